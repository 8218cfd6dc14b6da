// The codec policy: modes, client capabilities, bandwidth, content classes and fallbacks.
#include "encode/image_policy.h"

#include <gtest/gtest.h>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"

namespace spiced {
namespace {

bool built(ImageCodec codec) {
    return make_image_encoder(codec) != nullptr;
}

// What the policy must answer when `want` is the ideal codec: the codec itself if this build
// has it, else LZ4 (when the client has it), else LZ, else bitmaps.
ImageCodec expected_after_fallback(ImageCodec want, const ClientImageCaps& caps) {
    if (want == ImageCodec::kLz4 && !caps.lz4) want = ImageCodec::kLz;
    if ((want == ImageCodec::kGlz || want == ImageCodec::kZlibGlz) && caps.glz_window_pixels <= 0) {
        want = ImageCodec::kLz;
    }
    if (built(want)) return want;
    if (caps.lz4) return ImageCodec::kLz4;
    if (built(ImageCodec::kLz)) return ImageCodec::kLz;
    return ImageCodec::kBitmap;
}

TEST(ContentClassifier, CorpusKinds) {
    for (const CorpusImage& image : make_screen_corpus()) {
        const ContentKind kind = classify_content(*image.frame, image.frame->rect());
        if (image.kind == "natural") {
            EXPECT_EQ(kind, ContentKind::kNatural) << image.kind;
        } else if (image.kind == "text" || image.kind == "ui") {
            EXPECT_EQ(kind, ContentKind::kSynthetic) << image.kind;
        }
    }
}

TEST(ContentClassifier, FlatAndTinyAreasAreSynthetic) {
    auto frame = Frame::create({64, 64});
    frame->fill(frame->rect(), 0x336699);
    EXPECT_EQ(classify_content(*frame, frame->rect()), ContentKind::kSynthetic);
    EXPECT_EQ(classify_content(*frame, Rect::MakeXYWH(0, 0, 4, 4)), ContentKind::kSynthetic);
}

TEST(ImagePolicy, ModesCapsAndFallbacks) {
    auto corpus = make_screen_corpus();
    const Frame& natural = *corpus[2].frame;
    const Frame& text = *corpus[0].frame;
    ASSERT_EQ(corpus[2].kind, "natural");
    struct Case {
        ImageCompression mode;
        ClientImageCaps caps;
        ImageCodec for_text, for_natural;
    };
    const ClientImageCaps gtk{true, 1 << 22, false};      // spice-gtk: LZ4 and a GLZ window
    const ClientImageCaps html5{false, 0, false};         // spice-html5: neither
    const ClientImageCaps slow_gtk{true, 1 << 22, true};  // spice-gtk on a slow link
    const Case cases[] = {
        {ImageCompression::kOff, gtk, ImageCodec::kBitmap, ImageCodec::kBitmap},
        {ImageCompression::kLz4, gtk, ImageCodec::kLz4, ImageCodec::kLz4},
        {ImageCompression::kLz4, html5, ImageCodec::kLz, ImageCodec::kLz},
        {ImageCompression::kQuic, gtk, ImageCodec::kQuic, ImageCodec::kQuic},
        {ImageCompression::kGlz, gtk, ImageCodec::kGlz, ImageCodec::kGlz},
        {ImageCompression::kGlz, html5, ImageCodec::kLz, ImageCodec::kLz},
        {ImageCompression::kAutoGlz, gtk, ImageCodec::kGlz, ImageCodec::kQuic},
        {ImageCompression::kAutoGlz, html5, ImageCodec::kLz, ImageCodec::kQuic},
        {ImageCompression::kAutoLz, gtk, ImageCodec::kLz, ImageCodec::kQuic},
        {ImageCompression::kAutoGlz, slow_gtk, ImageCodec::kZlibGlz, ImageCodec::kJpeg},
    };
    for (const Case& c : cases) {
        ImagePolicy policy(
            ImagePolicyConfig{c.mode, WanCompression::kAuto, WanCompression::kAuto, 85});
        policy.set_client(c.caps);
        EXPECT_EQ(policy.choose(text, text.rect()), expected_after_fallback(c.for_text, c.caps))
            << "mode " << int(c.mode);
        EXPECT_EQ(policy.choose(natural, natural.rect()),
                  expected_after_fallback(c.for_natural, c.caps))
            << "mode " << int(c.mode);
        // The encoder handed out is never null and matches the choice.
        EXPECT_EQ(policy.encoder_for(text, text.rect()).codec(), policy.choose(text, text.rect()));
    }
}

TEST(ImagePolicy, WanSettingsOverrideBandwidth) {
    auto corpus = make_screen_corpus();
    const Frame& natural = *corpus[2].frame;
    const ClientImageCaps fast{true, 1 << 22, false};
    ImagePolicy always(ImagePolicyConfig{ImageCompression::kAutoGlz, WanCompression::kAlways,
                                         WanCompression::kAlways, 85});
    always.set_client(fast);
    EXPECT_EQ(always.choose(natural, natural.rect()),
              expected_after_fallback(ImageCodec::kJpeg, fast));
    ImagePolicy never(ImagePolicyConfig{ImageCompression::kAutoGlz, WanCompression::kNever,
                                        WanCompression::kNever, 85});
    never.set_client({true, 1 << 22, true});
    EXPECT_EQ(never.choose(natural, natural.rect()),
              expected_after_fallback(ImageCodec::kQuic, {true, 1 << 22, true}));
}

TEST(ImagePolicy, ParsesQemuNames) {
    EXPECT_EQ(parse_image_compression("auto_glz"), ImageCompression::kAutoGlz);
    EXPECT_EQ(parse_image_compression("never"), ImageCompression::kOff);
    EXPECT_FALSE(parse_image_compression("zip").has_value());
    EXPECT_EQ(parse_wan_compression("always"), WanCompression::kAlways);
    EXPECT_FALSE(parse_wan_compression("sometimes").has_value());
}

}  // namespace
}  // namespace spiced
