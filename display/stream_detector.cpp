#include "display/stream_detector.h"

#include <algorithm>
#include <array>
#include <optional>

#include "encode/image_policy.h"

namespace spiced {
namespace {

using Clock = StreamDetector::Clock;

// Candidates tracked at once. Only parts of at least min_side x min_side become candidates, so
// a 1080p frame has room for ~500 of them at most; 32 bounds memory and the matching cost
// (tracks x parts) while leaving room for every window a person can watch at once.
constexpr size_t kMaxCandidates = 32;
// Changed frames a stream's coverage looks back over before it shrinks to what changed: long
// enough that a frame where only part of a video changed does not shrink it, short enough to
// let go of the old place of a window dragged without COPY_BITS within ~0.1 s at 30 fps.
constexpr int kCoverageFrames = 3;
// Weight of the newest interval in the frame-rate estimate: 1/8 follows a rate change within
// ~a quarter second at 30 fps and smooths 24-in-60 judder (alternating 33 / 50 ms intervals).
constexpr double kIntervalWeight = 1.0 / 8.0;

Rect inflated(const Rect& r, int32_t by) {
    return Rect::MakeLTRB(r.left() - by, r.top() - by, r.right() + by, r.bottom() + by);
}

int64_t overlap(const Rect& a, const Rect& b) {
    return a.intersect(b).area();
}

// How far a part may differ from a stream per side and still be "the same window": two damage
// tiles (32 px) or an eighth of the size, whichever is larger, so an adjacent progress bar or
// one tile row of scaling slack does not count as a resize.
int32_t tolerance(int32_t extent) {
    return std::max(32, extent / 8);
}

// A window that moved keeps its size exactly; its damage differs by the tiles it straddles.
bool same_window(const Rect& a, const Rect& b) {
    constexpr int32_t kTiles = 32;
    return std::abs(a.width() - b.width()) <= kTiles && std::abs(a.height() - b.height()) <= kTiles;
}

bool same_size(const Rect& a, const Rect& b) {
    return std::abs(a.width() - b.width()) <= tolerance(b.width()) &&
           std::abs(a.height() - b.height()) <= tolerance(b.height());
}

// `outer` extends past `inner` by more than the tolerance on some side.
bool exceeds(const Rect& outer, const Rect& inner) {
    const int32_t tx = tolerance(inner.width()), ty = tolerance(inner.height());
    return inner.left() - outer.left() > tx || outer.right() - inner.right() > tx ||
           inner.top() - outer.top() > ty || outer.bottom() - inner.bottom() > ty;
}

// Grown outwards to even coordinates (H.264 4:2:0 chroma covers 2x2 pixels), then clipped to
// the even part of the frame so the result stays inside it.
Rect even_rect(const Rect& r, Size frame) {
    const Rect aligned =
        Rect::MakeLTRB(r.left() & ~1, r.top() & ~1, (r.right() + 1) & ~1, (r.bottom() + 1) & ~1);
    return aligned.intersect(Rect::MakeXYWH(0, 0, frame.width & ~1, frame.height & ~1));
}

}  // namespace

// A connected part of the damage followed over frames: a candidate until it qualifies, then a
// stream (id != 0).
struct StreamDetector::Track {
    uint32_t id = 0;
    Rect rect;      // where it is (a stream reports even_rect(rect))
    Rect reported;  // what the caller was last told (streams)
    // What changed in the last kCoverageFrames changed frames (empty: not yet).
    std::array<Rect, kCoverageFrames> recent{};
    int recent_next = 0;
    int run = 0;  // changed frames in a row, each within 1 / min_fps of the one before
    Clock::time_point first_change{};
    Clock::time_point last_change{};
    double interval = 0.0;  // seconds between changes, smoothed
    int changes_since_sample = 0;
    std::optional<ContentKind> kind;  // last content sample
    int synthetic_samples = 0;        // in a row
    bool animation = false;           // started on duration alone; content does not end it
    // This frame.
    Rect hit;  // union of the parts matched to it
    bool jumped = false;

    bool is_stream() const { return id != 0; }
    double fps() const { return interval > 0.0 ? 1.0 / interval : 0.0; }
    Rect coverage() const {
        Rect out;
        for (const Rect& r : recent) out = out.united(r);
        return out;
    }
    bool coverage_full() const {
        return std::all_of(recent.begin(), recent.end(),
                           [](const Rect& r) { return !r.is_empty(); });
    }
    void restart_coverage(const Rect& r) {
        recent.fill(Rect());
        recent[0] = r;
        recent_next = 1;
    }
    void add_coverage(const Rect& r) {
        recent[recent_next] = r;
        recent_next = (recent_next + 1) % kCoverageFrames;
    }
};

// Per-frame memory reused between frames: the cell grid that groups damage into parts.
struct StreamDetector::Scratch {
    std::vector<int32_t> cells;  // component per cell, -1 none, -2 marked but unvisited
    std::vector<int32_t> stack;
    std::vector<Rect> parts;
};

StreamDetector::StreamDetector(const StreamPolicy& policy)
    : policy_(policy), scratch_(std::make_unique<Scratch>()) {
    // Out-of-range settings mean the nearest meaningful ones rather than a division by zero.
    policy_.min_frames = std::max(policy_.min_frames, 1);
    policy_.min_fps = std::max(policy_.min_fps, 0.1);
    policy_.classify_every = std::max(policy_.classify_every, 1);
    policy_.synthetic_end_samples = std::max(policy_.synthetic_end_samples, 1);
    policy_.merge_distance = std::max(policy_.merge_distance, 1);
}
StreamDetector::~StreamDetector() = default;
StreamDetector::StreamDetector(StreamDetector&&) noexcept = default;
StreamDetector& StreamDetector::operator=(StreamDetector&&) noexcept = default;

namespace {

// The damage's connected parts, where parts closer than `cell` (roughly) count as connected:
// damage rects mark the cells of a grid they touch, 8-connected cells form a part, and a
// part's box is the union of its rects (so it is as tight as the damage, not the grid).
void find_parts(const std::vector<Rect>& rects, Size size, int32_t cell,
                std::vector<int32_t>& cells, std::vector<int32_t>& stack,
                std::vector<Rect>& parts) {
    parts.clear();
    if (rects.empty()) return;
    const int32_t cols = (size.width + cell - 1) / cell, rows = (size.height + cell - 1) / cell;
    cells.assign(size_t(cols) * rows, -1);
    for (const Rect& r : rects) {
        for (int32_t cy = r.top() / cell; cy <= (r.bottom() - 1) / cell; ++cy) {
            std::fill_n(cells.begin() + ptrdiff_t(cy) * cols + r.left() / cell,
                        (r.right() - 1) / cell - r.left() / cell + 1, -2);
        }
    }
    for (int32_t start = 0; start < cols * rows; ++start) {
        if (cells[size_t(start)] != -2) continue;
        const int32_t label = int32_t(parts.size());
        parts.emplace_back();
        cells[size_t(start)] = label;
        stack.assign(1, start);
        while (!stack.empty()) {
            const int32_t at = stack.back();
            stack.pop_back();
            const int32_t cx = at % cols, cy = at / cols;
            for (int32_t ny = std::max(0, cy - 1); ny <= std::min(rows - 1, cy + 1); ++ny) {
                for (int32_t nx = std::max(0, cx - 1); nx <= std::min(cols - 1, cx + 1); ++nx) {
                    int32_t& c = cells[size_t(ny) * cols + nx];
                    if (c != -2) continue;
                    c = label;
                    stack.push_back(ny * cols + nx);
                }
            }
        }
    }
    for (const Rect& r : rects) {
        Rect& part = parts[size_t(cells[size_t(r.top() / cell) * cols + r.left() / cell])];
        part = part.united(r);
    }
}

}  // namespace

void StreamDetector::expire(Clock::time_point now, StreamEvents& events) {
    const auto max_gap = std::chrono::duration<double>(1.0 / policy_.min_fps);
    std::erase_if(tracks_, [&](const Track& t) {
        if (t.is_stream()) {
            if (now - t.last_change < policy_.idle_after) return false;
            events.ended.push_back({t.id, t.reported, t.fps()});
            return true;
        }
        return now - t.last_change > max_gap;
    });
}

StreamEvents StreamDetector::on_tick(Clock::time_point now) {
    StreamEvents events;
    expire(now, events);
    publish(events);
    return events;
}

StreamEvents StreamDetector::reset() {
    StreamEvents events;
    for (const Track& t : tracks_) {
        if (t.is_stream()) events.ended.push_back({t.id, t.reported, t.fps()});
    }
    tracks_.clear();
    active_.clear();
    return events;
}

void StreamDetector::publish(StreamEvents& events) {
    // A stream pushed off the frame by a move has nothing left to show.
    std::erase_if(tracks_, [&](const Track& t) {
        if (!t.is_stream() || !even_rect(t.rect, size_).is_empty()) return false;
        events.ended.push_back({t.id, t.reported, t.fps()});
        return true;
    });
    active_.clear();
    for (Track& t : tracks_) {
        if (!t.is_stream()) continue;
        const DetectedStream s{t.id, even_rect(t.rect, size_), t.fps()};
        active_.push_back(s);
        if (!t.reported.is_empty() && t.reported != s.rect)
            events.changed.push_back({s, t.reported});
        t.reported = s.rect;
    }
    // Oldest first: ids grow with age.
    std::sort(active_.begin(), active_.end(),
              [](const DetectedStream& a, const DetectedStream& b) { return a.id < b.id; });
}

StreamEvents StreamDetector::on_frame(Clock::time_point now, const Frame& frame,
                                      const Region& damage, std::span<const MoveHint> moves) {
    StreamEvents events;
    if (frame.size() != size_) {
        events = reset();
        size_ = frame.size();
    }
    expire(now, events);
    const Rect bounds = frame.rect();

    // Windows moved with COPY_BITS carry their tracks along: a video window dragged this way
    // keeps its stream without waiting for its damage to be found elsewhere.
    for (const MoveHint& m : moves) {
        const Rect src = Rect::MakeXYWH(m.src.x, m.src.y, m.dest.width(), m.dest.height());
        const int32_t dx = m.dest.left() - m.src.x, dy = m.dest.top() - m.src.y;
        for (Track& t : tracks_) {
            if (overlap(t.rect, src) * 2 < t.rect.area()) continue;
            t.rect = t.rect.translated(dx, dy).intersect(bounds);
            for (Rect& r : t.recent) r = r.is_empty() ? r : r.translated(dx, dy).intersect(bounds);
        }
    }

    // Damage a move explains changed because of the move, not because anything animates
    // there: what it uncovered (its source minus its destination: a scrolled terminal's new
    // line, the desktop behind a dragged window) and a band around both rects (the window's
    // shadow and border redrawn around its new and old place).
    Region changed = damage;
    changed.intersect_with(bounds);
    const int32_t band = policy_.merge_distance;
    for (const MoveHint& m : moves) {
        const Rect src = Rect::MakeXYWH(m.src.x, m.src.y, m.dest.width(), m.dest.height());
        Region explained(inflated(src, band));
        explained.add_rect(inflated(m.dest, band));
        explained.subtract(m.dest);
        changed.subtract(explained);
    }
    Scratch& s = *scratch_;
    find_parts(changed.rects(), size_, policy_.merge_distance, s.cells, s.stack, s.parts);

    for (Track& t : tracks_) {
        t.hit = Rect();
        t.jumped = false;
    }
    // Each part goes to the track it overlaps most among those it plausibly belongs to. A
    // stream takes parts mostly inside it (a frame where only part of the video changed) and
    // parts around it up to 4x its area (its window grew); a candidate, only a part about its
    // own size and place (IoU >= 1/2), so it cannot swallow unrelated neighbours.
    std::vector<bool> claimed(s.parts.size(), false);
    for (size_t p = 0; p < s.parts.size(); ++p) {
        const Rect& part = s.parts[p];
        Track* best = nullptr;
        int64_t best_overlap = 0;
        for (Track& t : tracks_) {
            const int64_t o = overlap(part, t.rect);
            if (o == 0) continue;
            bool fits;
            if (t.is_stream()) {
                fits = o * 2 >= part.area() ||
                       (o * 2 >= t.rect.area() && part.area() <= 4 * t.rect.area());
            } else {
                fits = o * 2 >= part.area() + t.rect.area() - o;
            }
            const bool better = best == nullptr || (t.is_stream() && !best->is_stream()) ||
                                (t.is_stream() == best->is_stream() && o > best_overlap);
            if (fits && better) {
                best = &t;
                best_overlap = o;
            }
        }
        if (best != nullptr) {
            best->hit = best->hit.united(part);
            claimed[p] = true;
        }
    }

    const auto big_enough = [&](const Rect& r) {
        return r.width() >= policy_.min_side && r.height() >= policy_.min_side &&
               r.area() >= policy_.min_area;
    };
    // A part nobody claimed, about the size of an active track, is that window showing up
    // elsewhere (moved without COPY_BITS): the track jumps there at once. Whatever changed at
    // its old place (the uncovered desktop, or another video) starts over as a candidate.
    std::vector<Track> left_behind;
    for (size_t p = 0; p < s.parts.size(); ++p) {
        const Rect& part = s.parts[p];
        if (claimed[p] || !big_enough(part)) continue;
        Track* best = nullptr;
        int64_t best_distance = 0;
        for (Track& t : tracks_) {
            if (t.jumped || !same_window(part, t.rect)) continue;
            const int64_t dx = part.left() - t.rect.left(), dy = part.top() - t.rect.top();
            const int64_t distance = dx * dx + dy * dy;
            const bool better = best == nullptr || (t.is_stream() && !best->is_stream()) ||
                                (t.is_stream() == best->is_stream() && distance < best_distance);
            if (better) {
                best = &t;
                best_distance = distance;
            }
        }
        if (best == nullptr) continue;
        if (big_enough(best->hit)) {
            Track behind;
            behind.rect = best->hit;
            behind.hit = best->hit;
            left_behind.push_back(behind);
        }
        best->hit = part;
        best->rect = part;
        best->restart_coverage(part);
        best->jumped = true;
        claimed[p] = true;
    }
    for (size_t p = 0; p < s.parts.size(); ++p) {
        if (claimed[p] || !big_enough(s.parts[p])) continue;
        Track fresh;
        fresh.rect = s.parts[p];
        fresh.hit = s.parts[p];
        left_behind.push_back(fresh);
    }
    size_t candidates = size_t(std::count_if(tracks_.begin(), tracks_.end(),
                                             [](const Track& t) { return !t.is_stream(); }));
    for (Track& t : left_behind) {
        if (candidates++ >= kMaxCandidates) break;
        tracks_.push_back(t);
    }

    const auto max_gap = std::chrono::duration<double>(1.0 / policy_.min_fps);
    size_t streams = size_t(std::count_if(tracks_.begin(), tracks_.end(),
                                          [](const Track& t) { return t.is_stream(); }));
    std::vector<uint32_t> content_ended;
    for (Track& t : tracks_) {
        // Small damage inside a stream (a spinner over a paused video, a caret) is not
        // activity; for a candidate, too small a part was never matched to it.
        if (t.hit.is_empty() || (t.is_stream() && t.hit.area() < policy_.keep_alive_area)) {
            continue;
        }
        const auto gap = std::chrono::duration<double>(now - t.last_change);
        if (t.run == 0 || gap > max_gap) {
            t.run = 1;
            t.first_change = now;
            t.interval = t.is_stream() ? t.interval : 0.0;
        } else {
            ++t.run;
            t.interval = t.interval == 0.0
                             ? gap.count()
                             : t.interval + (gap.count() - t.interval) * kIntervalWeight;
        }
        t.last_change = now;

        if (!t.is_stream()) {
            if (!t.jumped) t.add_coverage(t.hit);
            t.rect = t.coverage();
            if (t.run < policy_.min_frames || streams >= policy_.max_streams) continue;
            const Rect rect = even_rect(t.rect, size_);
            if (!big_enough(rect)) continue;
            bool start = policy_.animation_min_frames > 0 && t.run >= policy_.animation_min_frames;
            if (!start) {
                // Sampled when about to start, then only every classify_every changes while it
                // stays synthetic: classify_content reads a few hundred pixels, per candidate.
                if (!t.kind || t.changes_since_sample >= policy_.classify_every) {
                    t.kind = classify_content(frame, rect);
                    t.changes_since_sample = 0;
                }
                ++t.changes_since_sample;
                start = t.kind == ContentKind::kNatural;
            } else {
                t.animation = t.kind != ContentKind::kNatural;
            }
            if (!start) continue;
            t.id = next_id_++;
            t.changes_since_sample = 0;
            t.synthetic_samples = 0;
            ++streams;
            t.reported = rect;
            events.started.push_back({t.id, rect, t.fps()});
            continue;
        }

        // A running stream follows its window: damage reaching clearly beyond it (past the
        // tolerance, so a wireframe's wobbling extent or a progress bar under a video does not
        // restart the encoder every frame) relocates it now, to that damage if it is about the
        // stream's size (moved) or larger (grown), else to both; it shrinks to what changed
        // over the last few frames once that is clearly smaller.
        if (t.jumped) {
            // Already relocated to the part.
        } else if (exceeds(t.hit, t.rect)) {
            t.rect = same_size(t.hit, t.rect) || t.hit.area() >= t.rect.area()
                         ? t.hit
                         : t.rect.united(t.hit);
            t.restart_coverage(t.hit);
        } else {
            t.add_coverage(t.hit);
        }
        if (t.coverage_full() && exceeds(t.rect, t.coverage())) t.rect = t.coverage();

        if (++t.changes_since_sample >= policy_.classify_every) {
            t.changes_since_sample = 0;
            const Rect rect = even_rect(t.rect, size_);
            t.kind = rect.is_empty() ? ContentKind::kSynthetic : classify_content(frame, rect);
            t.synthetic_samples = t.kind == ContentKind::kSynthetic ? t.synthetic_samples + 1 : 0;
            if (!t.animation && t.synthetic_samples >= policy_.synthetic_end_samples) {
                content_ended.push_back(t.id);
            }
        }
    }
    std::erase_if(tracks_, [&](const Track& t) {
        if (std::find(content_ended.begin(), content_ended.end(), t.id) == content_ended.end() ||
            !t.is_stream()) {
            return false;
        }
        events.ended.push_back({t.id, t.reported, t.fps()});
        return true;
    });
    publish(events);
    return events;
}

}  // namespace spiced
