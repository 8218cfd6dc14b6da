// libFuzzer: arbitrary bytes through the QUIC decoders. The first four bytes choose the
// descriptor size (each side 1..1024, so a lying header cannot make the fuzzer allocate
// gigabytes); the rest is a SPICE_IMAGE_TYPE_QUIC body, and also a bare QUIC stream.
#include <cstddef>
#include <cstdint>
#include <span>

#include "encode/codecs.h"
#include "encode/quic.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    const spiced::Size descriptor{1 + (data[0] | data[1] << 8) % 1024,
                                  1 + (data[2] | data[3] << 8) % 1024};
    const std::span<const uint8_t> rest(data + 4, size - 4);
    (void)spiced::decode_quic_body(rest, descriptor);
    (void)spiced::quic_decode(rest, int64_t{1} << 20);
    return 0;
}
