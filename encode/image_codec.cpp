#include "encode/image_encoder.h"

namespace spiced {

std::string_view to_string(ImageCodec codec) {
    switch (codec) {
        case ImageCodec::kBitmap:
            return "bitmap";
        case ImageCodec::kLz4:
            return "lz4";
        case ImageCodec::kQuic:
            return "quic";
        case ImageCodec::kLz:
            return "lz";
        case ImageCodec::kGlz:
            return "glz";
        case ImageCodec::kZlibGlz:
            return "zlib_glz";
        case ImageCodec::kJpeg:
            return "jpeg";
    }
    return "?";
}

}  // namespace spiced
