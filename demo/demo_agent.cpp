#include "demo/demo_agent.h"

#include <openssl/evp.h>
#include <spice/vd_agent.h>

#include <cinttypes>
#include <cstdio>
#include <variant>

#include "agent/vdagent.h"
#include "base/log.h"
#include "base/log_limiter.h"

namespace spiced {

namespace {
// Files one client may be sending at once (spice-gtk starts every file of a drop together).
constexpr size_t kMaxTransfersPerClient = 16;
// Pasted text beyond this is cut (the editor keeps 16 KiB anyway).
constexpr size_t kMaxPaste = size_t{64} * 1024;

// What the demo's agent can do: monitors configs with positions and sparse lists (so monitor
// i always means head i), replies, clipboard by demand with selections, file transfer with
// detailed errors.
vdagent::AgentCaps our_caps() {
    vdagent::AgentCaps caps;
    for (uint32_t cap :
         {VD_AGENT_CAP_MONITORS_CONFIG, VD_AGENT_CAP_REPLY, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND,
          VD_AGENT_CAP_CLIPBOARD_SELECTION, VD_AGENT_CAP_SPARSE_MONITORS_CONFIG,
          VD_AGENT_CAP_GUEST_LINEEND_LF, VD_AGENT_CAP_MONITORS_CONFIG_POSITION,
          VD_AGENT_CAP_FILE_XFER_DETAILED_ERRORS}) {
        caps.set(cap);
    }
    return caps;
}

struct DigestFree {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using Digest = std::unique_ptr<EVP_MD_CTX, DigestFree>;
}  // namespace

struct DemoAgent::Client {
    vdagent::AgentCaps caps;
    bool announced = false;
    vdagent::ClipboardFraming framing;
    bool paste_pending = false;
    struct Transfer {
        std::string name;
        uint64_t size = 0;
        uint64_t received = 0;
        Digest sha256;
    };
    std::map<uint32_t, Transfer> transfers;
    LogLimiter problems;
};

DemoAgent::DemoAgent(DisplaySink& sink, Hooks hooks) : sink_(sink), hooks_(std::move(hooks)) {}
DemoAgent::~DemoAgent() = default;

DemoAgent::Client& DemoAgent::client(ClientId id) {
    auto& slot = clients_[id];
    if (!slot) slot = std::make_unique<Client>();
    return *slot;
}

void DemoAgent::client_gone(ClientId id) {
    clients_.erase(id);
    if (clipboard_owner_ == id) clipboard_owner_ = 0;
}

void DemoAgent::problem(ClientId id, const std::string& what) {
    uint64_t held_back = 0;
    if (!client(id).problems.allow(held_back)) return;
    LOG_WARN("demo", "agent: client %u: %s (ignored; %" PRIu64 " more since the last report)", id,
             what.c_str(), held_back);
}

void DemoAgent::send(ClientId to, uint32_t type, std::vector<uint8_t> data) {
    sink_.send_agent_message(to, type, std::move(data));
}

void DemoAgent::on_message(ClientId from, uint32_t type, std::span<const uint8_t> data) {
    Client& peer = client(from);
    auto message = vdagent::parse_message(type, data, peer.framing);
    if (!message) {
        const char* name = vdagent::message_type_name(type);
        problem(from,
                std::string("bad ") + (name ? name : "agent message") + ": " + message.error());
        return;
    }
    std::visit([&](auto& parsed) { handle(from, peer, parsed); }, *message);
}

void DemoAgent::handle(ClientId from, Client& peer, const vdagent::AnnounceCapabilities& m) {
    peer.caps = m.caps;
    peer.announced = true;
    peer.framing = vdagent::negotiate_clipboard_framing(our_caps(), peer.caps);
    if (m.request) send(from, VD_AGENT_ANNOUNCE_CAPABILITIES, vdagent::build({false, our_caps()}));
    // A client that connects while the demo owns the clipboard learns of it.
    if (!clipboard_.empty() && clipboard_owner_ == 0) grab_for(from, peer);
}

void DemoAgent::handle(ClientId from, Client&, const vdagent::ClipboardGrab& m) {
    if (m.selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD) return;
    // The client owns the clipboard now: a later Ctrl+V asks it.
    clipboard_owner_ = from;
    clipboard_.clear();
}

void DemoAgent::handle(ClientId from, Client& peer, const vdagent::ClipboardRequest& m) {
    if (m.selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD) return;
    vdagent::ClipboardData reply;
    reply.selection = m.selection;
    if (clipboard_owner_ == 0 && m.type == VD_AGENT_CLIPBOARD_UTF8_TEXT && !clipboard_.empty()) {
        reply.type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
        reply.data =
            std::span(reinterpret_cast<const uint8_t*>(clipboard_.data()), clipboard_.size());
    } else {
        reply.type = VD_AGENT_CLIPBOARD_NONE;  // what guest agents answer when they have none
    }
    send(from, VD_AGENT_CLIPBOARD, vdagent::build(reply, peer.framing));
}

void DemoAgent::handle(ClientId from, Client& peer, const vdagent::ClipboardData& m) {
    if (!peer.paste_pending || m.selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD) return;
    peer.paste_pending = false;
    if (m.type != VD_AGENT_CLIPBOARD_UTF8_TEXT) return;
    std::string_view text(reinterpret_cast<const char*>(m.data.data()), m.data.size());
    if (text.size() > kMaxPaste) {
        problem(from, "pasted " + std::to_string(text.size()) + " bytes; the first " +
                          std::to_string(kMaxPaste) + " are typed");
        text = text.substr(0, kMaxPaste);
    }
    // Text may end with the NUL some clients send.
    while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
    const size_t typed = hooks_.paste ? hooks_.paste(text) : 0;
    LOG_INFO("demo", "agent: pasted %zu characters from client %u", typed, from);
}

void DemoAgent::handle(ClientId from, Client&, const vdagent::ClipboardRelease& m) {
    if (m.selection == VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD && clipboard_owner_ == from)
        clipboard_owner_ = 0;
}

void DemoAgent::handle(ClientId from, Client& peer, const vdagent::FileXferStart& m) {
    auto status = [&](uint32_t result) {
        send(from, VD_AGENT_FILE_XFER_STATUS,
             vdagent::build(vdagent::FileXferStatus{m.id, result, {}}));
    };
    auto info = vdagent::parse_file_xfer_keyfile(m.keyfile);
    if (!info) {
        problem(from, "file transfer " + std::to_string(m.id) + " refused: " + info.error());
        status(VD_AGENT_FILE_XFER_STATUS_ERROR);
        return;
    }
    if (peer.transfers.count(m.id) != 0 || peer.transfers.size() >= kMaxTransfersPerClient) {
        problem(from, "file transfer " + std::to_string(m.id) +
                          " refused: id in use or too many transfers at once");
        status(VD_AGENT_FILE_XFER_STATUS_ERROR);
        return;
    }
    Client::Transfer transfer;
    transfer.name = info->name;
    transfer.size = info->size;
    transfer.sha256.reset(EVP_MD_CTX_new());
    if (!transfer.sha256 || EVP_DigestInit_ex(transfer.sha256.get(), EVP_sha256(), nullptr) != 1) {
        status(VD_AGENT_FILE_XFER_STATUS_ERROR);
        return;
    }
    LOG_INFO("demo", "agent: client %u sends %s (%" PRIu64 " bytes) as transfer %u", from,
             transfer.name.c_str(), transfer.size, m.id);
    peer.transfers.emplace(m.id, std::move(transfer));
    // spice-gtk sends one empty DATA message for an empty file, which completes it.
    status(VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA);
}

void DemoAgent::handle(ClientId from, Client& peer, const vdagent::FileXferData& m) {
    auto found = peer.transfers.find(m.id);
    if (found == peer.transfers.end()) {
        problem(from, "file data for unknown transfer " + std::to_string(m.id));
        return;
    }
    Client::Transfer& transfer = found->second;
    auto fail = [&](const std::string& why) {
        problem(from, "file transfer " + std::to_string(m.id) + " (" + transfer.name +
                          ") failed: " + why);
        send(from, VD_AGENT_FILE_XFER_STATUS,
             vdagent::build(vdagent::FileXferStatus{m.id, VD_AGENT_FILE_XFER_STATUS_ERROR, {}}));
        peer.transfers.erase(found);
    };
    if (m.data.size() > transfer.size - transfer.received) {
        fail("more data than the " + std::to_string(transfer.size) + " bytes announced");
        return;
    }
    if (EVP_DigestUpdate(transfer.sha256.get(), m.data.data(), m.data.size()) != 1) {
        fail("cannot checksum");
        return;
    }
    transfer.received += m.data.size();
    if (transfer.received < transfer.size) return;
    uint8_t digest[32];
    unsigned int length = 0;
    EVP_DigestFinal_ex(transfer.sha256.get(), digest, &length);
    char hex[65] = {};
    for (size_t i = 0; i < length && i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    LOG_INFO("demo", "agent: file received from client %u: %s, %" PRIu64 " bytes, sha256 %s", from,
             transfer.name.c_str(), transfer.size, hex);
    if (hooks_.file_received) {
        char line[160];
        std::snprintf(line, sizeof line, "%.40s  %" PRIu64 " bytes  sha256 %.16s...",
                      transfer.name.c_str(), transfer.size, hex);
        hooks_.file_received(line);
    }
    send(from, VD_AGENT_FILE_XFER_STATUS,
         vdagent::build(vdagent::FileXferStatus{m.id, VD_AGENT_FILE_XFER_STATUS_SUCCESS, {}}));
    peer.transfers.erase(found);
}

void DemoAgent::handle(ClientId, Client& peer, const vdagent::FileXferStatus& m) {
    // The client cancelled, or echoes the end of a transfer that is over already.
    peer.transfers.erase(m.id);
}

void DemoAgent::grab_for(ClientId id, const Client& peer) {
    if (!peer.caps.has(VD_AGENT_CAP_CLIPBOARD_BY_DEMAND)) return;
    vdagent::ClipboardGrab grab;
    grab.types = {VD_AGENT_CLIPBOARD_UTF8_TEXT};
    send(id, VD_AGENT_CLIPBOARD_GRAB, vdagent::build(grab, peer.framing));
}

void DemoAgent::copy(std::string text) {
    clipboard_ = std::move(text);
    clipboard_owner_ = 0;
    LOG_INFO("demo", "agent: copied %zu characters to the clipboard", clipboard_.size());
    for (const auto& [id, peer] : clients_) {
        if (peer->announced) grab_for(id, *peer);
    }
}

void DemoAgent::paste() {
    if (clipboard_owner_ == 0) {
        // The demo's own clipboard: paste it like any desktop would.
        if (!clipboard_.empty() && hooks_.paste) hooks_.paste(clipboard_);
        return;
    }
    Client& owner = client(clipboard_owner_);
    owner.paste_pending = true;
    vdagent::ClipboardRequest request;
    request.type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
    send(clipboard_owner_, VD_AGENT_CLIPBOARD_REQUEST, vdagent::build(request, owner.framing));
}

void DemoAgent::monitors_config_reply(ClientId to, bool accepted) {
    send(to, VD_AGENT_REPLY,
         vdagent::build(vdagent::Reply{VD_AGENT_MONITORS_CONFIG,
                                       uint32_t(accepted ? VD_AGENT_SUCCESS : VD_AGENT_ERROR)}));
}

}  // namespace spiced
