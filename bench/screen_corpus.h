// A deterministic screen corpus for codec benchmarks and tests, cut from the demo desktop:
// the kinds of content a VDI display carries. Every benchmark that compares codecs uses the
// same images, so ratios across codecs and runs are comparable.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "demo/demo_desktop.h"
#include "demo/layout.h"
#include "pixels/frame.h"

namespace spiced {

struct CorpusImage {
    std::string kind;  // "text", "ui", "natural", "cad", "desktop"
    std::unique_ptr<Frame> frame;
};

// Renders demo frame `index` (seed 1, 1920x1080) and cuts: the terminal text (text), the
// editor window (ui), the video (natural), the CAD viewport (cad) and the whole desktop.
inline std::vector<CorpusImage> make_screen_corpus(int64_t index = 90) {
    DemoDesktop desktop(DemoConfig{{1920, 1080}, 1});
    auto full = Frame::create(desktop.size());
    std::vector<MoveHint> moves;
    for (int64_t i = 0; i <= index; ++i) desktop.render(i, *full, moves);
    const DemoLayout& layout = desktop.layout();
    auto cut = [&](const std::string& kind, const Rect& area) {
        auto frame = Frame::create(area.size());
        frame->copy_from(*full, area, {0, 0});
        return CorpusImage{kind, std::move(frame)};
    };
    std::vector<CorpusImage> corpus;
    corpus.push_back(cut("text", layout.terminal_text));
    corpus.push_back(cut("ui", desktop.editor_rect()));
    corpus.push_back(cut("natural", layout.video));
    corpus.push_back(cut("cad", layout.cad_view));
    corpus.push_back(CorpusImage{"desktop", std::move(full)});
    return corpus;
}

}  // namespace spiced
