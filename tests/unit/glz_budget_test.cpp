// --glz-memory-limit: leases of GLZ windows from one server-wide budget, and what the image
// policy does with a shrunk or refused window.
#include "encode/glz_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "bench/screen_corpus.h"
#include "encode/codecs.h"
#include "encode/image_policy.h"

namespace spiced {
namespace {

constexpr int64_t kGtkWindow = int64_t{3} << 20;  // what spice-gtk asks for

TEST(GlzMemoryBudget, GrantsWholeWindowsWhileTheyFitAndTakesThemBack) {
    auto budget = std::make_shared<GlzMemoryBudget>(16 * glz_encoder_bytes(kGtkWindow));
    {
        std::vector<GlzMemoryBudget::Lease> leases;
        for (int i = 0; i < 16; ++i) {
            leases.push_back(budget->reserve(kGtkWindow));
            EXPECT_EQ(leases.back().window_pixels(), kGtkWindow) << "lease " << i;
        }
        EXPECT_EQ(budget->used_bytes(), budget->limit_bytes());
        EXPECT_EQ(budget->reserve(kGtkWindow).window_pixels(), 0) << "the budget is spent";
        leases.erase(leases.begin());
        EXPECT_EQ(budget->reserve(kGtkWindow).window_pixels(), kGtkWindow) << "one came back";
    }
    EXPECT_EQ(budget->used_bytes(), 0u);
}

TEST(GlzMemoryBudget, ShrinksWindowsThatDoNotFitAndRefusesTinyOnes) {
    auto budget = std::make_shared<GlzMemoryBudget>(size_t{256} << 20);
    // The largest window a client can ask for: capped at a sixteenth of the budget.
    auto huge = budget->reserve(INT32_MAX);
    EXPECT_GT(huge.window_pixels(), GlzMemoryBudget::kMinWindowPixels);
    EXPECT_LT(huge.window_pixels(), kGlzMaxWindowPixels);
    EXPECT_LE(huge.bytes(), budget->limit_bytes() / GlzMemoryBudget::kMaxShare);
    EXPECT_EQ(huge.bytes(), glz_encoder_bytes(huge.window_pixels()));
    std::vector<GlzMemoryBudget::Lease> more;
    for (;;) {
        auto lease = budget->reserve(INT32_MAX);
        if (lease.window_pixels() == 0) break;
        EXPECT_GE(lease.window_pixels(), GlzMemoryBudget::kMinWindowPixels);
        more.push_back(std::move(lease));
        ASSERT_LT(more.size(), 40u);
    }
    EXPECT_LE(budget->used_bytes(), budget->limit_bytes());
    // What is left does not hold kMinWindowPixels, but a client asking for less gets it.
    EXPECT_LT(budget->limit_bytes() - budget->used_bytes(),
              glz_encoder_bytes(GlzMemoryBudget::kMinWindowPixels));
    if (budget->limit_bytes() - budget->used_bytes() >= glz_encoder_bytes(4096)) {
        EXPECT_EQ(budget->reserve(4096).window_pixels(), 4096);
    }
    EXPECT_EQ(budget->reserve(0).window_pixels(), 0);
    EXPECT_EQ(budget->reserve(-5).window_pixels(), 0);
}

TEST(GlzMemoryBudget, ZeroMeansNoGlz) {
    auto budget = std::make_shared<GlzMemoryBudget>(0);
    EXPECT_EQ(budget->reserve(kGtkWindow).window_pixels(), 0);
    EXPECT_EQ(budget->used_bytes(), 0u);
}

TEST(GlzMemoryBudget, ConcurrentLeasesNeverPassTheLimit) {
    auto budget = std::make_shared<GlzMemoryBudget>(size_t{1} << 30);
    std::vector<std::thread> threads;
    std::atomic<bool> over{false};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&budget, &over, t] {
            for (int i = 0; i < 200; ++i) {
                auto a = budget->reserve(kGtkWindow * (1 + (i + t) % 4));
                auto b = budget->reserve(INT32_MAX);
                if (budget->used_bytes() > budget->limit_bytes()) over = true;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_FALSE(over.load());
    EXPECT_EQ(budget->used_bytes(), 0u);
}

TEST(GlzMemoryBudget, PolicyServesLzWhenRefusedAndReturnsItsWindow) {
    auto corpus = make_screen_corpus();
    const Frame& text = *corpus[0].frame;
    const ClientImageCaps gtk{true, kGtkWindow, false};
    auto budget = std::make_shared<GlzMemoryBudget>(16 * glz_encoder_bytes(kGtkWindow));
    const ImagePolicyConfig glz{ImageCompression::kGlz, WanCompression::kAuto,
                                WanCompression::kAuto, 85};
    {
        ImagePolicy first(glz, budget);
        first.set_client(gtk);
        EXPECT_EQ(first.glz_window_pixels(), kGtkWindow);
        EXPECT_EQ(first.choose(text, text.rect()), ImageCodec::kGlz);
        EXPECT_EQ(budget->used_bytes(), glz_encoder_bytes(kGtkWindow));

        std::vector<GlzMemoryBudget::Lease> others;  // other clients take the rest
        while (others.size() < 15) others.push_back(budget->reserve(kGtkWindow));
        ImagePolicy starved(glz, budget);
        starved.set_client(gtk);
        EXPECT_EQ(starved.glz_window_pixels(), 0);
        EXPECT_NE(starved.choose(text, text.rect()), ImageCodec::kGlz);
        EXPECT_NE(starved.choose(text, text.rect()), ImageCodec::kZlibGlz);
        EXPECT_NE(starved.encoder_for(text, text.rect()).codec(), ImageCodec::kGlz);
    }
    EXPECT_EQ(budget->used_bytes(), 0u) << "policies return their windows when they go";
}

TEST(GlzMemoryBudget, GlzAndZlibGlzShareTheClientsOneDictionary) {
    auto corpus = make_screen_corpus();
    const Frame& text = *corpus[0].frame;
    ImagePolicy policy(ImagePolicyConfig{ImageCompression::kGlz, WanCompression::kAuto,
                                         WanCompression::kAuto, 85});
    policy.set_client({true, kGtkWindow, false});
    ImageEncoder& fast = policy.encoder_for(text, text.rect());
    EXPECT_EQ(fast.codec(), ImageCodec::kGlz);
    policy.set_client({true, kGtkWindow, true});  // the bandwidth figure came in low
    ImageEncoder& slow = policy.encoder_for(text, text.rect());
    EXPECT_EQ(&slow, &fast);
    EXPECT_EQ(slow.codec(), ImageCodec::kZlibGlz);
}

}  // namespace
}  // namespace spiced
