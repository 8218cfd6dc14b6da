// DemoAgent: the demo desktop's built-in guest agent. It speaks VDAgent to every client that
// has the agent: announces its capabilities, answers monitors configs, shares the clipboard
// both ways (the editor's Ctrl+C grabs it for the clients; Ctrl+V asks the client that grabbed
// last and types what comes back), and receives files (checksummed with SHA-256 and listed on
// the desktop).
//
// The desktop thread only. Every message a client sends is checked; a bad one is logged in
// one line and dropped, and memory per client is bounded (one file in flight at a time per
// client, no buffering of file data).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/vdagent.h"
#include "display/source.h"

namespace spiced {

class DemoAgent {
public:
    struct Hooks {
        // Types pasted text into the focused editor; returns the characters typed.
        std::function<size_t(std::string_view)> paste;
        // A file arrived: one line for the desktop's list.
        std::function<void(std::string_view)> file_received;
    };

    DemoAgent(DisplaySink& sink, Hooks hooks);
    ~DemoAgent();
    DemoAgent(const DemoAgent&) = delete;
    DemoAgent& operator=(const DemoAgent&) = delete;

    void on_message(ClientId from, uint32_t type, std::span<const uint8_t> data);
    void client_gone(ClientId id);
    // Ctrl+C: `text` becomes the clipboard; every client is told (CLIPBOARD_GRAB).
    void copy(std::string text);
    // Ctrl+V: asks the client that grabbed the clipboard last for its text.
    void paste();
    // The answer to a client's monitors config.
    void monitors_config_reply(ClientId to, bool accepted);

private:
    struct Client;
    Client& client(ClientId id);
    void send(ClientId to, uint32_t type, std::vector<uint8_t> data);
    // One line per second at most per client for what it gets wrong.
    void problem(ClientId id, const std::string& what);
    // Tells `id` that the demo owns the clipboard (CLIPBOARD_GRAB of UTF-8 text).
    void grab_for(ClientId id, const Client& peer);
    // One handler per message kind; kinds the demo has no use for are ignored.
    void handle(ClientId from, Client& peer, const vdagent::AnnounceCapabilities& m);
    void handle(ClientId from, Client& peer, const vdagent::ClipboardGrab& m);
    void handle(ClientId from, Client& peer, const vdagent::ClipboardRequest& m);
    void handle(ClientId from, Client& peer, const vdagent::ClipboardData& m);
    void handle(ClientId from, Client& peer, const vdagent::ClipboardRelease& m);
    void handle(ClientId from, Client& peer, const vdagent::FileXferStart& m);
    void handle(ClientId from, Client& peer, const vdagent::FileXferData& m);
    void handle(ClientId from, Client& peer, const vdagent::FileXferStatus& m);
    template <typename Other>
    void handle(ClientId, Client&, const Other&) {}

    DisplaySink& sink_;
    Hooks hooks_;
    std::map<ClientId, std::unique_ptr<Client>> clients_;
    std::string clipboard_;         // what Ctrl+C copied (the demo owns the clipboard)
    ClientId clipboard_owner_ = 0;  // the client that grabbed last (0: the demo or nobody)
};

}  // namespace spiced
