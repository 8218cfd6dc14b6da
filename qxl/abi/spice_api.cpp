// libspice-server.so.1's C API (Debian's spice.h, 0.15.1): each entry point checks its
// arguments and hands over to RedsState or the instance's QxlDevice. Return values follow
// spice-server's documentation: 0 for success, -1 for failure.
#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "core/channel_kinds.h"
#include "qxl/abi/library_server.h"

// clang-format off
#define SPICE_H_INSIDE 1
#include <spice-server/spice-replay.h>
#undef SPICE_H_INSIDE
// clang-format on

#define SPICED_API extern "C" __attribute__((visibility("default")))

namespace {

spiced::qxl::QxlDevice* device_of(QXLInstance* instance) {
    if (!instance || !instance->st || !instance->st->device) return nullptr;
    return instance->st->device.get();
}

spiced::WanCompression wan_of(spice_wan_compression_t value) {
    switch (value) {
        case SPICE_WAN_COMPRESSION_ALWAYS:
            return spiced::WanCompression::kAlways;
        case SPICE_WAN_COMPRESSION_NEVER:
            return spiced::WanCompression::kNever;
        default:
            return spiced::WanCompression::kAuto;
    }
}

}  // namespace

// -- Server ----------------------------------------------------------------------------------

SPICED_API spice_compat_version_t spice_get_current_compat_version(void) {
    return SPICE_COMPAT_VERSION_CURRENT;
}

SPICED_API SpiceServer* spice_server_new(void) {
    // The host owns it through the C API until spice_server_destroy.
    return std::make_unique<RedsState>().release();
}

SPICED_API int spice_server_init(SpiceServer* s, SpiceCoreInterface* core) {
    return s ? s->init(core) : -1;
}

SPICED_API void spice_server_destroy(SpiceServer* s) {
    std::unique_ptr<RedsState> owned(s);
}

SPICED_API int spice_server_set_compat_version(SpiceServer*, spice_compat_version_t version) {
    return version == SPICE_COMPAT_VERSION_CURRENT ? 0 : -1;
}

SPICED_API int spice_server_set_port(SpiceServer* s, int port) {
    if (!s || port < 0 || port > 0xffff) return -1;
    s->config.port = uint16_t(port);
    s->port_requested = port > 0;
    return 0;
}

SPICED_API void spice_server_set_addr(SpiceServer* s, const char* addr, int flags) {
    if (!s) return;
    std::string address = addr ? addr : "";
    s->unix_socket.clear();
    if (flags & SPICE_ADDR_FLAG_UNIX_ONLY) {
        // QEMU's -spice unix=on,addr=PATH: the address is a socket path.
        s->unix_socket = address;
        return;
    }
    if (address.empty()) address = (flags & SPICE_ADDR_FLAG_IPV6_ONLY) ? "::" : "0.0.0.0";
    s->config.address = address;
}

SPICED_API int spice_server_set_listen_socket_fd(SpiceServer* s, int listen_fd) {
    if (!s || listen_fd < 0) return -1;
    s->host_listen_fd = listen_fd;
    return 0;
}

SPICED_API int spice_server_set_exit_on_disconnect(SpiceServer* s, int flag) {
    if (!s) return -1;
    s->exit_on_disconnect = flag != 0;
    return 0;
}

SPICED_API int spice_server_set_noauth(SpiceServer* s) {
    if (!s) return -1;
    s->config.ticket = spiced::TicketPolicy::disabled();
    return 0;
}

SPICED_API int spice_server_set_sasl(SpiceServer* s, int enabled) {
    if (!s) return -1;
    if (!enabled) return 0;
    s->log_once("SASL authentication is not supported");
    return -1;
}

SPICED_API int spice_server_set_sasl_appname(SpiceServer* s, const char*) {
    // QEMU names itself whether or not SASL is on; only enabling SASL fails.
    return s ? 0 : -1;
}

SPICED_API int spice_server_set_ticket(SpiceServer* s, const char* passwd, int lifetime,
                                       int fail_if_connected, int disconnect_if_connected) {
    if (!s) return -1;
    return s->set_ticket(passwd, lifetime, fail_if_connected != 0, disconnect_if_connected != 0);
}

SPICED_API int spice_server_set_tls(SpiceServer* s, int port, const char* ca_cert_file,
                                    const char* certs_file, const char* private_key_file,
                                    const char* key_passwd, const char* dh_key_file,
                                    const char* ciphersuite) {
    if (!s || port <= 0 || port > 0xffff || !ca_cert_file || !certs_file || !private_key_file)
        return -1;
    s->tls_port = uint16_t(port);
    s->tls_ca = ca_cert_file;
    s->tls_cert = certs_file;
    s->tls_key = private_key_file;
    s->tls_key_password = key_passwd ? key_passwd : "";
    if (dh_key_file && *dh_key_file)
        s->log_once("TLS: the DH parameter file is ignored (ECDHE and TLS 1.3 groups are used)");
    if (ciphersuite && *ciphersuite)
        s->log_once("TLS: the cipher suite setting is ignored (TLS 1.2+ strong suites only)");
    return 0;
}

SPICED_API int spice_server_add_client(SpiceServer* s, int socket, int) {
    return s ? s->add_client(socket, false) : -1;
}

SPICED_API int spice_server_add_ssl_client(SpiceServer* s, int socket, int) {
    return s ? s->add_client(socket, true) : -1;
}

SPICED_API int spice_server_add_interface(SpiceServer* s, SpiceBaseInstance* sin) {
    return s ? s->add_interface(sin) : -1;
}

SPICED_API int spice_server_remove_interface(SpiceBaseInstance* sin) {
    if (!sin || !sin->sif || !sin->sif->type) return -1;
    // The instance's state knows its server (spice-server finds it the same way).
    const std::string_view type = sin->sif->type;
    RedsState* server = nullptr;
    if (type == SPICE_INTERFACE_QXL) {
        auto* qxl = SPICE_CONTAINEROF(sin, QXLInstance, base);
        server = qxl->st ? qxl->st->server : nullptr;
    } else if (type == SPICE_INTERFACE_KEYBOARD) {
        auto* kbd = SPICE_CONTAINEROF(sin, SpiceKbdInstance, base);
        server = kbd->st ? kbd->st->server : nullptr;
    } else if (type == SPICE_INTERFACE_PLAYBACK) {
        auto* playback = SPICE_CONTAINEROF(sin, SpicePlaybackInstance, base);
        server = playback->st ? playback->st->server : nullptr;
    } else if (type == SPICE_INTERFACE_RECORD) {
        auto* record = SPICE_CONTAINEROF(sin, SpiceRecordInstance, base);
        server = record->st ? record->st->server : nullptr;
    } else if (type == SPICE_INTERFACE_MOUSE) {
        auto* mouse = SPICE_CONTAINEROF(sin, SpiceMouseInstance, base);
        server = mouse->st ? mouse->st->server : nullptr;
    } else if (type == SPICE_INTERFACE_TABLET) {
        auto* tablet = SPICE_CONTAINEROF(sin, SpiceTabletInstance, base);
        server = tablet->st ? tablet->st->server : nullptr;
    } else if (type == SPICE_INTERFACE_CHAR_DEVICE) {
        auto* device = SPICE_CONTAINEROF(sin, SpiceCharDeviceInstance, base);
        server = device->st ? device->st->server : nullptr;
    }
    return server ? server->remove_interface(sin) : -1;
}

SPICED_API int spice_server_set_image_compression(SpiceServer* s, SpiceImageCompression comp) {
    if (!s) return -1;
    using spiced::ImageCompression;
    ImageCompression mode;
    switch (comp) {
        case SPICE_IMAGE_COMPRESSION_OFF:
            mode = ImageCompression::kOff;
            break;
        case SPICE_IMAGE_COMPRESSION_AUTO_GLZ:
            mode = ImageCompression::kAutoGlz;
            break;
        case SPICE_IMAGE_COMPRESSION_AUTO_LZ:
            mode = ImageCompression::kAutoLz;
            break;
        case SPICE_IMAGE_COMPRESSION_QUIC:
            mode = ImageCompression::kQuic;
            break;
        case SPICE_IMAGE_COMPRESSION_GLZ:
            mode = ImageCompression::kGlz;
            break;
        case SPICE_IMAGE_COMPRESSION_LZ:
            mode = ImageCompression::kLz;
            break;
        case SPICE_IMAGE_COMPRESSION_LZ4:
            mode = ImageCompression::kLz4;
            break;
        default:
            return -1;
    }
    s->config.images.mode = mode;
    s->image_compression = comp;
    return 0;
}

SPICED_API SpiceImageCompression spice_server_get_image_compression(SpiceServer* s) {
    return s ? s->image_compression : SPICE_IMAGE_COMPRESSION_INVALID;
}

SPICED_API int spice_server_set_jpeg_compression(SpiceServer* s, spice_wan_compression_t comp) {
    if (!s || comp == SPICE_WAN_COMPRESSION_INVALID || comp > SPICE_WAN_COMPRESSION_NEVER)
        return -1;
    s->config.images.jpeg_wan = wan_of(comp);
    return 0;
}

SPICED_API int spice_server_set_zlib_glz_compression(SpiceServer* s, spice_wan_compression_t comp) {
    if (!s || comp == SPICE_WAN_COMPRESSION_INVALID || comp > SPICE_WAN_COMPRESSION_NEVER)
        return -1;
    s->config.images.zlib_glz_wan = wan_of(comp);
    return 0;
}

SPICED_API int spice_server_set_channel_security(SpiceServer* s, const char* channel,
                                                 int security) {
    if (!s) return -1;
    spiced::ChannelSecurity value;
    if (security == SPICE_CHANNEL_SECURITY_SSL) {
        value = spiced::ChannelSecurity::kSecureOnly;
    } else if (security == SPICE_CHANNEL_SECURITY_NONE) {
        value = spiced::ChannelSecurity::kPlainOnly;
    } else if (security == (SPICE_CHANNEL_SECURITY_SSL | SPICE_CHANNEL_SECURITY_NONE)) {
        value = spiced::ChannelSecurity::kAny;
    } else {
        return -1;
    }
    if (!channel || std::strcmp(channel, "default") == 0) {
        s->config.default_security = value;
        return 0;
    }
    auto type = spiced::channel_type_by_name(channel);
    if (!type || *type >= s->config.channel_security.size()) return -1;
    s->config.channel_security[*type] = value;
    return 0;
}

SPICED_API int spice_server_add_renderer(SpiceServer* s, const char*) {
    // Renderers were spice-server's canvas choice; ours is fixed.
    return s ? 0 : -1;
}

SPICED_API int spice_server_set_streaming_video(SpiceServer* s, int value) {
    if (!s) return -1;
    using spiced::StreamingVideo;
    switch (value) {
        case SPICE_STREAM_VIDEO_OFF:
            s->config.video.streaming = StreamingVideo::kOff;
            break;
        case SPICE_STREAM_VIDEO_ALL:
            s->config.video.streaming = StreamingVideo::kAll;
            break;
        case SPICE_STREAM_VIDEO_FILTER:
            s->config.video.streaming = StreamingVideo::kFilter;
            break;
        default:
            LOG_ERROR("server", "spice_server_set_streaming_video: %d is not off, all or filter",
                      value);
            return -1;
    }
    s->streaming_video = value;
    return 0;
}

SPICED_API int spice_server_set_video_codecs(SpiceServer* s, const char* video_codecs) {
    if (!s || !video_codecs) return -1;
    auto parsed = spiced::parse_video_codecs(video_codecs);
    if (!parsed) {
        LOG_ERROR("server", "video codecs '%s' refused: %s", video_codecs, parsed.error().c_str());
        return -1;
    }
    for (const std::string& note : parsed->notes)
        LOG_WARN("server", "video codecs: %s", note.c_str());
    s->config.video.codecs = std::move(parsed->choices);
    s->video_codecs = video_codecs;
    return 0;
}

SPICED_API const char* spice_server_get_video_codecs(SpiceServer* s) {
    if (!s) return nullptr;
    // The caller frees it with spice_server_free_video_codecs.
    return strdup(s->video_codecs.c_str());
}

SPICED_API void spice_server_free_video_codecs(SpiceServer*, const char* video_codecs) {
    std::free(const_cast<char*>(video_codecs));
}

SPICED_API int spice_server_set_playback_compression(SpiceServer* s, int enable) {
    if (!s) return -1;
    s->playback_compression = enable != 0;
    return 0;
}

SPICED_API int spice_server_set_agent_mouse(SpiceServer* s, int enable) {
    if (!s) return -1;
    s->agent_mouse = enable != 0;
    return 0;
}

SPICED_API int spice_server_set_agent_copypaste(SpiceServer* s, int enable) {
    if (!s) return -1;
    s->agent_copypaste = enable != 0;
    return 0;
}

SPICED_API int spice_server_set_agent_file_xfer(SpiceServer* s, int enable) {
    if (!s) return -1;
    s->agent_file_xfer = enable != 0;
    return 0;
}

SPICED_API int spice_server_get_sock_info(SpiceServer*, struct sockaddr*, socklen_t*) {
    return -1;  // deprecated in spice-server too: it cannot say which of several clients
}

SPICED_API int spice_server_get_peer_info(SpiceServer*, struct sockaddr*, socklen_t*) {
    return -1;
}

SPICED_API int spice_server_is_server_mouse(SpiceServer* s) {
    return s ? s->is_server_mouse() : 1;
}

SPICED_API void spice_server_set_name(SpiceServer* s, const char* name) {
    if (s && name) s->config.name = name;
}

SPICED_API void spice_server_set_uuid(SpiceServer* s, const uint8_t uuid[16]) {
    if (s && uuid) std::memcpy(s->config.uuid.data(), uuid, 16);
}

SPICED_API void spice_server_vm_start(SpiceServer* s) {
    if (s) s->set_vm_running(true);
}

SPICED_API void spice_server_vm_stop(SpiceServer* s) {
    if (s) s->set_vm_running(false);
}

SPICED_API int spice_server_get_num_clients(SpiceServer* s) {
    return s ? s->client_count() : 0;
}

// -- Migration: not supported; each call fails as documented and says so once ----------------

SPICED_API int spice_server_migrate_info(SpiceServer* s, const char*, int, int, const char*) {
    if (s) s->log_once("migration is not supported (spice_server_migrate_info failed)");
    return -1;
}

SPICED_API int spice_server_migrate_switch(SpiceServer* s) {
    if (s) s->log_once("migration is not supported (spice_server_migrate_switch failed)");
    return -1;
}

SPICED_API int spice_server_migrate_connect(SpiceServer* s, const char*, int, int, const char*) {
    if (s) s->log_once("migration is not supported (spice_server_migrate_connect failed)");
    return -1;
}

SPICED_API int spice_server_migrate_start(SpiceServer* s) {
    if (s) s->log_once("migration is not supported (spice_server_migrate_start failed)");
    return -1;
}

SPICED_API int spice_server_migrate_end(SpiceServer* s, int) {
    if (s) s->log_once("migration is not supported (spice_server_migrate_end failed)");
    return -1;
}

SPICED_API void spice_server_set_seamless_migration(SpiceServer* s, int enable) {
    if (s) s->seamless_migration = enable != 0;
}

// -- Input -----------------------------------------------------------------------------------

SPICED_API int spice_server_kbd_leds(SpiceKbdInstance* sin, int leds) {
    if (!sin || !sin->st || !sin->st->server) return -1;
    sin->st->server->keyboard_leds(leds);
    return 0;
}

// -- Char devices ----------------------------------------------------------------------------

SPICED_API void spice_server_char_device_wakeup(SpiceCharDeviceInstance* sin) {
    if (sin && sin->st && sin->st->server) sin->st->server->char_device_wakeup(sin);
}

SPICED_API void spice_server_port_event(SpiceCharDeviceInstance*, uint8_t) {}

SPICED_API const char** spice_server_char_device_recognized_subtypes(void) {
    // The subtypes QEMU may create (it checks its -chardev spicevmc,name= against these).
    static const char* subtypes[] = {"vdagent", "smartcard", "usbredir", "port", nullptr};
    return subtypes;
}

// -- Audio: accepted and dropped -------------------------------------------------------------

SPICED_API void spice_server_playback_start(SpicePlaybackInstance*) {}
SPICED_API void spice_server_playback_stop(SpicePlaybackInstance*) {}

SPICED_API void spice_server_playback_get_buffer(SpicePlaybackInstance* sin, uint32_t** samples,
                                                 uint32_t* num_samples) {
    if (!sin || !sin->st || !samples || !num_samples) {
        if (samples) *samples = nullptr;
        if (num_samples) *num_samples = 0;
        return;
    }
    *samples = sin->st->frame.data();
    *num_samples = uint32_t(sin->st->frame.size());
}

SPICED_API void spice_server_playback_put_samples(SpicePlaybackInstance*, uint32_t*) {}
SPICED_API void spice_server_playback_set_volume(SpicePlaybackInstance*, uint8_t, uint16_t*) {}
SPICED_API void spice_server_playback_set_mute(SpicePlaybackInstance*, uint8_t) {}

SPICED_API uint32_t spice_server_get_best_playback_rate(SpicePlaybackInstance*) {
    return 48000;
}

SPICED_API void spice_server_set_playback_rate(SpicePlaybackInstance* sin, uint32_t frequency) {
    if (sin && sin->st) sin->st->rate = frequency;
}

SPICED_API void spice_server_record_start(SpiceRecordInstance*) {}
SPICED_API void spice_server_record_stop(SpiceRecordInstance*) {}

SPICED_API uint32_t spice_server_record_get_samples(SpiceRecordInstance*, uint32_t*, uint32_t) {
    return 0;  // no client records
}

SPICED_API void spice_server_record_set_volume(SpiceRecordInstance*, uint8_t, uint16_t*) {}
SPICED_API void spice_server_record_set_mute(SpiceRecordInstance*, uint8_t) {}
SPICED_API uint32_t spice_server_get_best_record_rate(SpiceRecordInstance*) {
    return 48000;
}

SPICED_API void spice_server_set_record_rate(SpiceRecordInstance* sin, uint32_t frequency) {
    if (sin && sin->st) sin->st->rate = frequency;
}

// -- QXL -------------------------------------------------------------------------------------

SPICED_API void spice_qxl_wakeup(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->wakeup();
}

SPICED_API void spice_qxl_oom(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->oom();
}

SPICED_API void spice_qxl_start(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->set_running(true);
}

SPICED_API void spice_qxl_stop(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->set_running(false);
}

SPICED_API void spice_qxl_update_area(QXLInstance* instance, uint32_t surface_id, QXLRect* area,
                                      QXLRect* dirty_rects, uint32_t num_dirty_rects,
                                      uint32_t clear_dirty_region) {
    auto* device = device_of(instance);
    if (!device || !area) return;
    device->update_area(surface_id, *area, dirty_rects, num_dirty_rects, clear_dirty_region != 0);
}

SPICED_API void spice_qxl_update_area_async(QXLInstance* instance, uint32_t surface_id,
                                            QXLRect* qxl_area, uint32_t clear_dirty_region,
                                            uint64_t cookie) {
    auto* device = device_of(instance);
    if (!device || !qxl_area) return;
    device->update_area_async(surface_id, *qxl_area, clear_dirty_region != 0, cookie);
}

SPICED_API void spice_qxl_add_memslot(QXLInstance* instance, QXLDevMemSlot* slot) {
    if (auto* device = device_of(instance); device && slot) device->add_memslot(*slot, {});
}

SPICED_API void spice_qxl_add_memslot_async(QXLInstance* instance, QXLDevMemSlot* slot,
                                            uint64_t cookie) {
    if (auto* device = device_of(instance); device && slot) device->add_memslot(*slot, cookie);
}

SPICED_API void spice_qxl_del_memslot(QXLInstance* instance, uint32_t slot_group_id,
                                      uint32_t slot_id) {
    if (auto* device = device_of(instance)) device->del_memslot(slot_group_id, slot_id);
}

SPICED_API void spice_qxl_reset_memslots(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->reset_memslots();
}

SPICED_API void spice_qxl_destroy_surfaces(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->destroy_surfaces({});
}

SPICED_API void spice_qxl_destroy_surfaces_async(QXLInstance* instance, uint64_t cookie) {
    if (auto* device = device_of(instance)) device->destroy_surfaces(cookie);
}

SPICED_API void spice_qxl_destroy_primary_surface(QXLInstance* instance, uint32_t surface_id) {
    if (auto* device = device_of(instance)) device->destroy_primary(surface_id, {});
}

SPICED_API void spice_qxl_destroy_primary_surface_async(QXLInstance* instance, uint32_t surface_id,
                                                        uint64_t cookie) {
    if (auto* device = device_of(instance)) device->destroy_primary(surface_id, cookie);
}

SPICED_API void spice_qxl_create_primary_surface(QXLInstance* instance, uint32_t surface_id,
                                                 QXLDevSurfaceCreate* surface) {
    if (auto* device = device_of(instance); device && surface)
        device->create_primary(surface_id, *surface, {});
}

SPICED_API void spice_qxl_create_primary_surface_async(QXLInstance* instance, uint32_t surface_id,
                                                       QXLDevSurfaceCreate* surface,
                                                       uint64_t cookie) {
    if (auto* device = device_of(instance); device && surface)
        device->create_primary(surface_id, *surface, cookie);
}

SPICED_API void spice_qxl_reset_image_cache(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->reset_image_cache();
}

SPICED_API void spice_qxl_reset_cursor(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->reset_cursor();
}

SPICED_API void spice_qxl_destroy_surface_wait(QXLInstance* instance, uint32_t surface_id) {
    if (auto* device = device_of(instance)) device->destroy_surface(surface_id, {});
}

SPICED_API void spice_qxl_destroy_surface_async(QXLInstance* instance, uint32_t surface_id,
                                                uint64_t cookie) {
    if (auto* device = device_of(instance)) device->destroy_surface(surface_id, cookie);
}

SPICED_API void spice_qxl_loadvm_commands(QXLInstance* instance, QXLCommandExt* ext,
                                          uint32_t count) {
    if (auto* device = device_of(instance); device && ext) device->loadvm_commands(ext, count);
}

SPICED_API void spice_qxl_flush_surfaces_async(QXLInstance* instance, uint64_t cookie) {
    if (auto* device = device_of(instance)) device->flush_surfaces(cookie);
}

SPICED_API void spice_qxl_monitors_config_async(QXLInstance* instance, QXLPHYSICAL monitors_config,
                                                int group_id, uint64_t cookie) {
    if (auto* device = device_of(instance))
        device->monitors_config(monitors_config, group_id, cookie);
}

SPICED_API void spice_qxl_driver_unload(QXLInstance* instance) {
    if (auto* device = device_of(instance)) device->driver_unload();
}

SPICED_API void spice_qxl_set_max_monitors(QXLInstance* instance, unsigned int max_monitors) {
    if (auto* device = device_of(instance)) device->set_max_monitors(max_monitors);
}

SPICED_API void spice_qxl_set_device_info(QXLInstance* instance, const char*,
                                          uint32_t device_display_id_start,
                                          uint32_t device_display_id_count) {
    (void)device_display_id_start;
    if (auto* device = device_of(instance); device && device_display_id_count > 0)
        device->set_max_monitors(device_display_id_count);
}

SPICED_API void spice_qxl_gl_scanout(QXLInstance* qxl, int fd, uint32_t width, uint32_t height,
                                     uint32_t stride, uint32_t format, int y_0_top) {
    if (auto* device = device_of(qxl))
        device->gl_scanout(fd, width, height, stride, format, y_0_top != 0);
}

SPICED_API void spice_qxl_gl_draw_async(QXLInstance* qxl, uint32_t x, uint32_t y, uint32_t w,
                                        uint32_t h, uint64_t cookie) {
    if (auto* device = device_of(qxl)) {
        device->gl_draw(spiced::Rect::MakeXYWH(int32_t(std::min<uint32_t>(x, 1u << 15)),
                                               int32_t(std::min<uint32_t>(y, 1u << 15)),
                                               int32_t(std::min<uint32_t>(w, 1u << 15)),
                                               int32_t(std::min<uint32_t>(h, 1u << 15))),
                        cookie);
    }
}

// -- Replay (spice-server's recorded-command player): not supported ---------------------------

SPICED_API SpiceReplay* spice_replay_new(FILE*, int) {
    LOG_WARN("server", "spice_replay_new: replaying recorded QXL commands is not supported");
    return nullptr;
}

SPICED_API QXLCommandExt* spice_replay_next_cmd(SpiceReplay*, QXLInstance*) {
    return nullptr;
}
SPICED_API void spice_replay_free_cmd(SpiceReplay*, QXLCommandExt*) {}
SPICED_API void spice_replay_free(SpiceReplay*) {}
