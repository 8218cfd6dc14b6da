// The Vulkan backend: composition, tile damage, tile read-back and BGRX to YUV as compute
// shaders (gpu/shaders/), on frames kept in device buffers between steps. Host frames reach
// the device through upload buffers; after the first step only the rows of a layer that the
// step's hint and moves touch are uploaded again (outside them the source promised nothing
// changed: gpu/compositor.h).
#include "gpu/vulkan_compositor.h"

#include <algorithm>
#include <cstring>

#include "gpu/compose_rules.h"
#include "gpu/shaders/bgrx_to_yuv420.spv.h"
#include "gpu/shaders/copy_rect.spv.h"
#include "gpu/shaders/cursor.spv.h"
#include "gpu/shaders/tile_damage.spv.h"
#include "gpu/shaders/tile_gather.spv.h"
#include "gpu/vulkan_scanout.h"

namespace spiced::gpu {

namespace {

// Tiles per dispatch row: the listed-tile shaders spread longer lists over y (every device
// allows at least 65535 workgroups per dimension).
constexpr uint32_t kTilesPerDispatchRow = 32768;
// Bounds that keep one step's descriptor sets within the pool.
constexpr size_t kMaxLayers = 16;
constexpr size_t kMaxMoves = 64;
constexpr uint32_t kMaxSetsPerRun = 2 * kMaxMoves + kMaxLayers + 8;

struct CopyParams {
    int32_t source_origin[2];
    int32_t target_origin[2];
    int32_t size[2];
    uint32_t source_stride;
    uint32_t target_stride;
};
struct CursorParams {
    int32_t origin[2];
    int32_t visible_origin[2];
    int32_t visible_size[2];
    uint32_t cursor_width;
    uint32_t target_stride;
};
struct TileParams {
    uint32_t width, height, stride, tile, count;
};
struct YuvParams {
    int32_t origin[2];
    int32_t blocks[2];
    uint32_t source_stride;
    uint32_t y_offset, y_stride, u_offset, u_stride, v_offset, v_stride;
    uint32_t nv12;
    int32_t y_coeff[4];
    int32_t u_coeff[4];
    int32_t v_coeff[4];
};
static_assert(sizeof(YuvParams) <= kPushConstantBytes);

void weights_to(const YuvWeights& w, int32_t out[4]) {
    out[0] = w.r;
    out[1] = w.g;
    out[2] = w.b;
    out[3] = w.offset;
}

uint32_t div_up(uint32_t a, uint32_t b) {
    return (a + b - 1) / b;
}

}  // namespace

// The device side every compositor of a backend shares: the context and the pipelines.
struct VulkanShared {
    std::unique_ptr<VulkanContext> context;
    ComputePipeline copy_rect;
    ComputePipeline cursor;
    ComputePipeline tile_damage;
    ComputePipeline tile_gather;
    ComputePipeline yuv;

    ~VulkanShared() {
        // Pipelines go before the context that made them.
        copy_rect = {};
        cursor = {};
        tile_damage = {};
        tile_gather = {};
        yuv = {};
    }
};

namespace {

class VulkanCompositor final : public DisplayCompositor {
public:
    VulkanCompositor(std::shared_ptr<VulkanShared> shared, int32_t tile_size)
        : shared_(std::move(shared)), tile_size_(tile_size) {}

    ~VulkanCompositor() override {
        if (pool_ != VK_NULL_HANDLE)
            vk().vkDestroyDescriptorPool(context().device(), pool_, nullptr);
    }

    Expected<void, std::string> init() {
        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                  kMaxSetsPerRun * kShaderBuffers};
        VkDescriptorPoolCreateInfo create{};
        create.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
        create.maxSets = kMaxSetsPerRun;
        create.poolSizeCount = 1;
        create.pPoolSizes = &size;
        if (vk().vkCreateDescriptorPool(context().device(), &create, nullptr, &pool_) != VK_SUCCESS)
            return unexpected(std::string("vulkan: cannot create a descriptor pool"));
        auto dummy = context().create_buffer(16, BufferUse::kDevice);
        if (!dummy) return unexpected(dummy.error());
        dummy_ = std::move(*dummy);
        return {};
    }

    Expected<Region, std::string> compose(const CompositionStep& step) override {
        if (auto ok = check_step(step); !ok) return unexpected(ok.error());
        if (step.layers.size() > kMaxLayers || step.moves.size() > kMaxMoves)
            return unexpected(std::string("compositor: too many layers or moves in one step"));
        const bool fresh = !current_ || size_ != step.output_size;
        if (fresh) {
            if (auto ok = resize(step.output_size); !ok) return unexpected(ok.error());
        }
        // Where layers may have changed since the last upload.
        Rect changed_rows = fresh ? Rect::MakeSize(size_) : step.hint.bounds();
        for (const MoveHint& move : step.moves) changed_rows = changed_rows.united(move.dest);
        if (auto ok = upload_layers(step, changed_rows); !ok) return unexpected(ok.error());
        if (step.cursor) {
            if (auto ok = upload_cursor(*step.cursor); !ok) return unexpected(ok.error());
        }
        std::vector<Rect> tiles;
        if (!fresh && step.want_damage) {
            tiles = tiles_touching(step.hint, size_, tile_size_);
            if (auto ok = upload_tile_list(tiles); !ok) return unexpected(ok.error());
            if (auto ok = reserve(flags_, tiles.size() * 4, BufferUse::kReadback); !ok)
                return unexpected(ok.error());
        }
        auto ran = context().run([&](VkCommandBuffer cmd) {
            vk().vkResetDescriptorPool(context().device(), pool_, 0);
            const bool compare = !fresh && step.want_damage;
            if (compare) record_moves(cmd, step.moves);
            record_composition(cmd, step);
            if (compare && !tiles.empty()) record_damage(cmd, uint32_t(tiles.size()));
            host_barrier(cmd);
        });
        if (!ran) return unexpected(ran.error());
        std::swap(previous_, current_);  // current_ now holds the new output
        if (fresh) return Region(Rect::MakeSize(size_));
        if (!step.want_damage) return Region();
        return damage_of(tiles);
    }

    Expected<void, std::string> read_back(const Region& region, Frame& out) override {
        if (!current_ || out.size() != size_)
            return unexpected(std::string("compositor: read-back frame size differs"));
        const std::vector<Rect> tiles = tiles_touching(region, size_, tile_size_);
        if (tiles.empty()) return {};
        if (auto ok = upload_tile_list(tiles); !ok) return ok;
        const size_t tile_bytes = size_t(tile_size_) * size_t(tile_size_) * 4;
        if (auto ok = reserve(gathered_, tiles.size() * tile_bytes, BufferUse::kReadback); !ok)
            return ok;
        auto ran = context().run([&](VkCommandBuffer cmd) {
            vk().vkResetDescriptorPool(context().device(), pool_, 0);
            const TileParams params{uint32_t(size_.width), uint32_t(size_.height),
                                    uint32_t(size_.width), uint32_t(tile_size_),
                                    uint32_t(tiles.size())};
            dispatch_tiles(cmd, shared_->tile_gather, {&current_, &dummy_, &tile_list_, &gathered_},
                           params);
            host_barrier(cmd);
        });
        if (!ran) return ran;
        gathered_.invalidate();
        for (size_t i = 0; i < tiles.size(); ++i) {
            const Rect& tile = tiles[i];
            const auto* packed =
                reinterpret_cast<const uint32_t*>(gathered_.mapped() + i * tile_bytes);
            for (int32_t y = 0; y < tile.height(); ++y) {
                std::memcpy(out.row(tile.top() + y) + tile.left(),
                            packed + size_t(y) * size_t(tile.width()), size_t(tile.width()) * 4);
            }
        }
        return {};
    }

    Expected<void, std::string> to_i420(const Rect& area, const I420Planes& out) override {
        if (!current_) return unexpected(std::string("compositor: nothing composed yet"));
        if (auto ok = check_i420_target(size_, area, out); !ok) return ok;
        const uint32_t w = uint32_t(area.width()), h = uint32_t(area.height());
        const uint32_t u_offset = w * h, v_offset = u_offset + (w / 2) * (h / 2);
        if (auto ok = convert(area, {0, w, u_offset, w / 2, v_offset, w / 2, false}); !ok)
            return ok;
        copy_plane(yuv_.mapped(), w, out.y, out.y_stride, w, h);
        copy_plane(yuv_.mapped() + u_offset, w / 2, out.u, out.u_stride, w / 2, h / 2);
        copy_plane(yuv_.mapped() + v_offset, w / 2, out.v, out.v_stride, w / 2, h / 2);
        return {};
    }

    Expected<void, std::string> to_nv12(const Rect& area, const Nv12Planes& out) override {
        if (!current_) return unexpected(std::string("compositor: nothing composed yet"));
        if (auto ok = check_nv12_target(size_, area, out); !ok) return ok;
        const uint32_t w = uint32_t(area.width()), h = uint32_t(area.height());
        if (auto ok = convert(area, {0, w, w * h, w, 0, 0, true}); !ok) return ok;
        copy_plane(yuv_.mapped(), w, out.y, out.y_stride, w, h);
        copy_plane(yuv_.mapped() + size_t(w) * h, w, out.uv, out.uv_stride, w, h / 2);
        return {};
    }

    Size output_size() const override { return current_ ? size_ : Size{}; }
    int32_t tile_size() const override { return tile_size_; }

private:
    struct PlaneLayout {
        uint32_t y_offset, y_stride, u_offset, u_stride, v_offset, v_stride;
        bool nv12;
    };
    // Host copy of what each layer's upload buffer holds, to know when it must be redone.
    struct UploadedLayer {
        DeviceBuffer buffer;
        LayerCopy placement;
        Size frame_size;
    };

    VulkanContext& context() const { return *shared_->context; }
    const VulkanFunctions& vk() const { return shared_->context->vk(); }

    Expected<void, std::string> reserve(DeviceBuffer& buffer, size_t bytes, BufferUse use) {
        if (buffer && buffer.size() >= bytes) return {};
        auto made = context().create_buffer(std::max<size_t>(bytes, 16), use);
        if (!made) return unexpected(made.error());
        buffer = std::move(*made);
        return {};
    }

    Expected<void, std::string> resize(Size size) {
        size_ = size;
        const size_t bytes = size_t(size.width) * size_t(size.height) * 4;
        for (DeviceBuffer* buffer : {&current_, &previous_, &scratch_}) {
            *buffer = DeviceBuffer();
            if (auto ok = reserve(*buffer, bytes, BufferUse::kDevice); !ok) return ok;
        }
        layers_.clear();
        return {};
    }

    // Uploads each layer's visible part, packed (stride = its width), in full when the layer
    // is new or moved on the output, else only its rows inside `changed` (output coordinates).
    Expected<void, std::string> upload_layers(const CompositionStep& step, const Rect& changed) {
        layers_.resize(step.layers.size());
        for (size_t i = 0; i < step.layers.size(); ++i) {
            const Layer& layer = step.layers[i];
            UploadedLayer& up = layers_[i];
            const LayerCopy placement = clip_layer(layer, size_);
            const Rect& src = placement.source;
            const bool same = up.buffer && up.placement.source == src &&
                              up.placement.dest == placement.dest &&
                              up.frame_size == layer.frame->size();
            if (auto ok = reserve(up.buffer, size_t(src.width()) * size_t(src.height()) * 4,
                                  BufferUse::kUpload);
                !ok)
                return ok;
            up.placement = placement;
            up.frame_size = layer.frame->size();
            if (src.is_empty()) continue;
            int32_t first = 0, last = src.height();
            if (same) {
                first = std::clamp(changed.top() - placement.dest.y, 0, src.height());
                last = std::clamp(changed.bottom() - placement.dest.y, first, src.height());
            }
            const size_t row_bytes = size_t(src.width()) * 4;
            for (int32_t y = first; y < last; ++y) {
                std::memcpy(up.buffer.mapped() + size_t(y) * row_bytes,
                            layer.frame->row(src.top() + y) + src.left(), row_bytes);
            }
            up.buffer.flush();
        }
        return {};
    }

    Expected<void, std::string> upload_cursor(const CursorOverlay& cursor) {
        const auto& argb = cursor.shape->image.argb;
        if (auto ok = reserve(cursor_, argb.size() * 4, BufferUse::kUpload); !ok) return ok;
        if (!argb.empty()) std::memcpy(cursor_.mapped(), argb.data(), argb.size() * 4);
        cursor_.flush();
        return {};
    }

    Expected<void, std::string> upload_tile_list(const std::vector<Rect>& tiles) {
        if (auto ok = reserve(tile_list_, tiles.size() * 4, BufferUse::kUpload); !ok) return ok;
        auto* list = reinterpret_cast<uint32_t*>(tile_list_.mapped());
        for (size_t i = 0; i < tiles.size(); ++i) {
            list[i] = uint32_t(tiles[i].left() / tile_size_) |
                      (uint32_t(tiles[i].top() / tile_size_) << 16);
        }
        tile_list_.flush();
        return {};
    }

    VkDescriptorSet bind(VkCommandBuffer cmd, const ComputePipeline& pipeline,
                         std::initializer_list<const DeviceBuffer*> buffers) {
        VkDescriptorSetAllocateInfo allocate{};
        allocate.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
        allocate.descriptorPool = pool_;
        allocate.descriptorSetCount = 1;
        const VkDescriptorSetLayout layout = context().set_layout();
        allocate.pSetLayouts = &layout;
        VkDescriptorSet set = VK_NULL_HANDLE;
        vk().vkAllocateDescriptorSets(context().device(), &allocate, &set);
        VkDescriptorBufferInfo infos[kShaderBuffers]{};
        VkWriteDescriptorSet writes[kShaderBuffers]{};
        uint32_t binding = 0;
        for (const DeviceBuffer* buffer : buffers) {
            infos[binding] = {buffer->handle(), 0, VK_WHOLE_SIZE};
            writes[binding].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
            writes[binding].dstSet = set;
            writes[binding].dstBinding = binding;
            writes[binding].descriptorCount = 1;
            writes[binding].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[binding].pBufferInfo = &infos[binding];
            ++binding;
        }
        for (; binding < kShaderBuffers; ++binding) {
            infos[binding] = {dummy_.handle(), 0, VK_WHOLE_SIZE};
            writes[binding] = writes[0];
            writes[binding].dstBinding = binding;
            writes[binding].pBufferInfo = &infos[binding];
        }
        vk().vkUpdateDescriptorSets(context().device(), kShaderBuffers, writes, 0, nullptr);
        vk().vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.handle());
        vk().vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
                                     context().pipeline_layout(), 0, 1, &set, 0, nullptr);
        return set;
    }

    template <typename Params>
    void push(VkCommandBuffer cmd, const Params& params) {
        vk().vkCmdPushConstants(cmd, context().pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                sizeof(Params), &params);
    }

    // Every step of ours reads what the one before wrote.
    void barrier(VkCommandBuffer cmd) {
        VkMemoryBarrier memory{};
        memory.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
        memory.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        memory.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                               VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        const VkPipelineStageFlags stages =
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
        vk().vkCmdPipelineBarrier(cmd, stages, stages, 0, 1, &memory, 0, nullptr, 0, nullptr);
    }

    void host_barrier(VkCommandBuffer cmd) {
        VkMemoryBarrier memory{};
        memory.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
        memory.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
        memory.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vk().vkCmdPipelineBarrier(
            cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &memory, 0, nullptr, 0, nullptr);
    }

    void copy_rect(VkCommandBuffer cmd, const DeviceBuffer& from, uint32_t from_stride,
                   Point from_origin, const DeviceBuffer& to, Point to_origin, Size size) {
        bind(cmd, shared_->copy_rect, {&from, &to});
        push(cmd, CopyParams{{from_origin.x, from_origin.y},
                             {to_origin.x, to_origin.y},
                             {size.width, size.height},
                             from_stride,
                             uint32_t(size_.width)});
        vk().vkCmdDispatch(cmd, div_up(uint32_t(size.width), 16), div_up(uint32_t(size.height), 16),
                           1);
        barrier(cmd);
    }

    // Moves rewrite the previous output as Frame::copy_from would (through scratch, so
    // overlapping moves read what was there before).
    void record_moves(VkCommandBuffer cmd, const std::vector<MoveHint>& moves) {
        const uint32_t stride = uint32_t(size_.width);
        for (const MoveHint& move : moves) {
            const ClippedCopy copy = clip_copy(
                size_,
                Rect::MakeXYWH(move.src.x, move.src.y, move.dest.width(), move.dest.height()),
                move.dest.origin(), size_);
            if (copy.source.is_empty()) continue;
            const Size area{copy.source.width(), copy.source.height()};
            copy_rect(cmd, current_, stride, copy.source.origin(), scratch_, copy.source.origin(),
                      area);
            copy_rect(cmd, scratch_, stride, copy.source.origin(), current_, copy.dest, area);
        }
    }

    // The new output goes into previous_ (it becomes current_ after the run).
    void record_composition(VkCommandBuffer cmd, const CompositionStep& step) {
        vk().vkCmdFillBuffer(cmd, previous_.handle(), 0, VK_WHOLE_SIZE, 0);
        barrier(cmd);
        for (const UploadedLayer& layer : layers_) {
            const Rect& src = layer.placement.source;
            if (src.is_empty()) continue;
            copy_rect(cmd, layer.buffer, uint32_t(src.width()), Point{0, 0}, previous_,
                      layer.placement.dest, Size{src.width(), src.height()});
        }
        if (step.cursor) {
            const CursorPlacement at = place_cursor(*step.cursor, size_);
            if (!at.visible.is_empty()) {
                bind(cmd, shared_->cursor, {&cursor_, &previous_});
                push(cmd, CursorParams{{at.origin.x, at.origin.y},
                                       {at.visible.left(), at.visible.top()},
                                       {at.visible.width(), at.visible.height()},
                                       uint32_t(step.cursor->shape->image.width),
                                       uint32_t(size_.width)});
                vk().vkCmdDispatch(cmd, div_up(uint32_t(at.visible.width()), 16),
                                   div_up(uint32_t(at.visible.height()), 16), 1);
                barrier(cmd);
            }
        }
    }

    void record_damage(VkCommandBuffer cmd, uint32_t count) {
        vk().vkCmdFillBuffer(cmd, flags_.handle(), 0, VK_WHOLE_SIZE, 0);
        barrier(cmd);
        const TileParams params{uint32_t(size_.width), uint32_t(size_.height),
                                uint32_t(size_.width), uint32_t(tile_size_), count};
        // current_: the previous output with the moves applied; previous_: the new one.
        dispatch_tiles(cmd, shared_->tile_damage, {&current_, &previous_, &tile_list_, &flags_},
                       params);
    }

    void dispatch_tiles(VkCommandBuffer cmd, const ComputePipeline& pipeline,
                        std::initializer_list<const DeviceBuffer*> buffers,
                        const TileParams& params) {
        bind(cmd, pipeline, buffers);
        push(cmd, params);
        const uint32_t columns = std::min(params.count, kTilesPerDispatchRow);
        vk().vkCmdDispatch(cmd, columns, div_up(params.count, columns), 1);
        barrier(cmd);
    }

    // The flagged tiles as a Region, each tile row's runs merged first (cheaper to add).
    Region damage_of(const std::vector<Rect>& tiles) {
        flags_.invalidate();
        const auto* flags = reinterpret_cast<const uint32_t*>(flags_.mapped());
        Region damage;
        for (size_t i = 0; i < tiles.size();) {
            if (flags[i] == 0) {
                ++i;
                continue;
            }
            Rect run = tiles[i];
            size_t j = i + 1;
            while (j < tiles.size() && flags[j] != 0 && tiles[j].top() == run.top() &&
                   tiles[j].left() == run.right()) {
                run = Rect::MakeLTRB(run.left(), run.top(), tiles[j].right(), run.bottom());
                ++j;
            }
            damage.add_rect(run);
            i = j;
        }
        return damage;
    }

    Expected<void, std::string> convert(const Rect& area, const PlaneLayout& layout) {
        const size_t bytes = size_t(area.width()) * size_t(area.height()) * 3 / 2;
        if (auto ok = reserve(yuv_, bytes, BufferUse::kReadback); !ok) return ok;
        YuvParams params{};
        params.origin[0] = area.left();
        params.origin[1] = area.top();
        params.blocks[0] = area.width() / 2;
        params.blocks[1] = area.height() / 2;
        params.source_stride = uint32_t(size_.width);
        params.y_offset = layout.y_offset;
        params.y_stride = layout.y_stride;
        params.u_offset = layout.u_offset;
        params.u_stride = layout.u_stride;
        params.v_offset = layout.v_offset;
        params.v_stride = layout.v_stride;
        params.nv12 = layout.nv12 ? 1 : 0;
        weights_to(kYuvFormula.y, params.y_coeff);
        weights_to(kYuvFormula.u, params.u_coeff);
        weights_to(kYuvFormula.v, params.v_coeff);
        auto ran = context().run([&](VkCommandBuffer cmd) {
            vk().vkResetDescriptorPool(context().device(), pool_, 0);
            bind(cmd, shared_->yuv, {&current_, &yuv_});
            push(cmd, params);
            vk().vkCmdDispatch(cmd, div_up(uint32_t(params.blocks[0]), 8),
                               div_up(uint32_t(params.blocks[1]), 8), 1);
            host_barrier(cmd);
        });
        if (!ran) return ran;
        yuv_.invalidate();
        return {};
    }

    static void copy_plane(const uint8_t* from, uint32_t from_stride, std::span<uint8_t> to,
                           int32_t to_stride, uint32_t row_bytes, uint32_t rows) {
        for (uint32_t y = 0; y < rows; ++y)
            std::memcpy(to.data() + size_t(y) * size_t(to_stride), from + size_t(y) * from_stride,
                        row_bytes);
    }

    std::shared_ptr<VulkanShared> shared_;
    int32_t tile_size_;
    Size size_;
    VkDescriptorPool pool_ = VK_NULL_HANDLE;
    DeviceBuffer current_;   // the last output
    DeviceBuffer previous_;  // the output before it, then the next one's target
    DeviceBuffer scratch_;
    DeviceBuffer dummy_;
    DeviceBuffer tile_list_;
    DeviceBuffer flags_;
    DeviceBuffer gathered_;
    DeviceBuffer cursor_;
    DeviceBuffer yuv_;
    std::vector<UploadedLayer> layers_;
};

class VulkanBackend final : public GpuBackend {
public:
    explicit VulkanBackend(std::shared_ptr<VulkanShared> shared) : shared_(std::move(shared)) {}

    GpuBackendKind kind() const override { return GpuBackendKind::kVulkan; }
    std::string describe() const override {
        const VulkanDeviceInfo& info = shared_->context->info();
        return "vulkan: " + info.name + " (" + info.driver + ")";
    }
    Expected<std::unique_ptr<DisplayCompositor>, std::string> create_compositor(
        int32_t tile_size) override {
        if (!valid_compositor_tile(tile_size))
            return unexpected("compositor: tile size " + std::to_string(tile_size) +
                              " is not a multiple of 4 in 4..256");
        auto compositor = std::make_unique<VulkanCompositor>(shared_, tile_size);
        if (auto ok = compositor->init(); !ok) return unexpected(ok.error());
        return std::unique_ptr<DisplayCompositor>(std::move(compositor));
    }
    Expected<std::unique_ptr<ScanoutReader>, std::string> import_scanout(
        const ScanoutBuffer& buffer) override {
        // The reader keeps the whole device (context and pipelines) alive through the context.
        return import_scanout_on_device(
            std::shared_ptr<VulkanContext>(shared_, shared_->context.get()), buffer);
    }

private:
    std::shared_ptr<VulkanShared> shared_;
};

}  // namespace

Expected<std::unique_ptr<GpuBackend>, std::string> make_vulkan_backend(const GpuChoice& choice) {
    auto context = VulkanContext::open(choice.vulkan_loader, choice.device);
    if (!context) return unexpected(context.error());
    auto shared = std::make_shared<VulkanShared>();
    shared->context = std::move(*context);
    const VulkanContext& made = *shared->context;
    struct Program {
        ComputePipeline* pipeline;
        std::span<const uint32_t> spirv;
    };
    for (const Program& program :
         {Program{&shared->copy_rect, copy_rect_spv}, Program{&shared->cursor, cursor_spv},
          Program{&shared->tile_damage, tile_damage_spv},
          Program{&shared->tile_gather, tile_gather_spv},
          Program{&shared->yuv, bgrx_to_yuv420_spv}}) {
        auto pipeline = made.create_pipeline(program.spirv);
        if (!pipeline) return unexpected(pipeline.error());
        *program.pipeline = std::move(*pipeline);
    }
    return std::unique_ptr<GpuBackend>(std::make_unique<VulkanBackend>(std::move(shared)));
}

}  // namespace spiced::gpu
