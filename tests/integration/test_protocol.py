#!/usr/bin/python3
"""Protocol behaviour a raw client can see and spice-gtk never exercises: full (non-mini)
message headers with serials, the SET_ACK window holding back display data until the client
acks, link errors for unknown sessions and unavailable channels, and hostile messages after
the link (oversized, unknown type, truncated) each closing only that connection with one log
line while the server keeps serving.
"""

import os
import re
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spiced_harness as H  # noqa: E402

MINI = 1 << H.COMMON_CAP_MINI_HEADER
AUTH = (1 << H.COMMON_CAP_PROTOCOL_AUTH_SELECTION) | (1 << H.COMMON_CAP_AUTH_SPICE)

MSG_SET_ACK, MSG_PING = 3, 4
MSGC_ACK_SYNC, MSGC_ACK = 1, 2
MSG_MAIN_INIT, MSG_MAIN_CHANNELS_LIST = 103, 104
MSGC_MAIN_ATTACH_CHANNELS = 104
MSG_DISPLAY_SURFACE_CREATE = 314
MSGC_INPUTS_KEY_DOWN = 101


class RawChannel:
    """One channel linked by hand; `mini` picks the header format both sides agree on."""

    def __init__(self, port, channel_type=H.CHANNEL_MAIN, connection_id=0, mini=True,
                 channel_id=0):
        self.mini = mini
        self.sock = H.raw_connect(port)
        mess = H.link_mess(connection_id=connection_id, channel_type=channel_type,
                           channel_id=channel_id, common_caps=(AUTH | (MINI if mini else 0),))
        self.sock.sendall(H.link_header(len(mess)) + mess)
        head, _ = H.recv_some(self.sock, H.LINK_HEADER_SIZE, 10.0)
        H.check(len(head) == H.LINK_HEADER_SIZE, "no link reply")
        size = struct.unpack("<IIII", head)[3]
        body, _ = H.recv_some(self.sock, size, 10.0)
        self.link_error = struct.unpack_from("<I", body, 0)[0]
        if self.link_error != H.LINK_ERR_OK:
            return
        self.sock.sendall(struct.pack("<I", H.COMMON_CAP_AUTH_SPICE))
        n, e = H.rsa_public_key_from_spki(body[4:4 + 162])
        self.sock.sendall(H.rsa_oaep_sha1_encrypt(n, e, b"\0"))
        result, _ = H.recv_some(self.sock, 4, 10.0)
        H.check(result == struct.pack("<I", 0), "link result %r" % result)

    def read(self, timeout=10.0):
        """(serial or None, type, body), or None on timeout/EOF."""
        size = 6 if self.mini else 18
        head, _ = H.recv_some(self.sock, size, timeout)
        if len(head) < size:
            return None
        if self.mini:
            serial, (mtype, msize) = None, struct.unpack("<HI", head)
        else:
            serial, mtype, msize, _ = struct.unpack("<QHII", head)
        body, _ = H.recv_some(self.sock, msize, timeout)
        return serial, mtype, body

    def send(self, mtype, body=b"", serial=1):
        head = (struct.pack("<HI", mtype, len(body)) if self.mini
                else struct.pack("<QHII", serial, mtype, len(body), 0))
        self.sock.sendall(head + body)

    def read_until(self, mtype, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.read(deadline - time.monotonic())
            if msg is None:
                return None
            if msg[1] == mtype:
                return msg
        return None

    def closed_by_server(self, timeout=5.0):
        data, eof = H.recv_some(self.sock, 1 << 20, timeout)
        return bool(eof)

    def close(self):
        self.sock.close()


def session_id_of(main):
    msg = main.read_until(MSG_MAIN_INIT)
    H.check(msg is not None, "no MAIN_INIT")
    return struct.unpack_from("<I", msg[2], 0)[0]


def case_full_headers(args):
    with H.ServerProcess(args.server, ["--disable-ticketing"]) as srv:
        main = RawChannel(srv.port, mini=False)
        first = [main.read() for _ in range(3)]
        H.check([m[1] for m in first] == [MSG_SET_ACK, MSG_PING, MSG_MAIN_INIT],
                "first messages %r" % [m[1] for m in first])
        H.check([m[0] for m in first] == [1, 2, 3], "serials %r" % [m[0] for m in first])
        main.send(MSGC_MAIN_ATTACH_CHANNELS, serial=1)
        channels = main.read_until(MSG_MAIN_CHANNELS_LIST)
        H.check(channels is not None, "no CHANNELS_LIST for a full-header client")
        count = struct.unpack_from("<I", channels[2], 0)[0]
        listed = [tuple(channels[2][4 + 2 * i:6 + 2 * i]) for i in range(count)]
        H.check(listed == [(2, 0), (3, 0), (4, 0)], "channels %r" % listed)
        main.close()


def case_ack_window(args):
    with H.ServerProcess(args.server, ["--disable-ticketing"]) as srv:
        main = RawChannel(srv.port)
        sid = session_id_of(main)
        display = RawChannel(srv.port, H.CHANNEL_DISPLAY, sid)
        got = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            msg = display.read(0.3)
            if msg is not None:
                got.append(msg[1])
        # SET_ACK is not counted; the window is 20 and we stop at two windows.
        H.check(MSG_SET_ACK in got and MSG_DISPLAY_SURFACE_CREATE in got, "start %r" % got[:5])
        H.check(len(got) <= 2 * 20 + 1,
                "%d display messages without any ACK; the window should stop at 40" % len(got))
        display.send(MSGC_ACK_SYNC, struct.pack("<I", 1))
        for _ in range(3):
            display.send(MSGC_ACK)
        more = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and more < 5:
            if display.read(0.3) is not None:
                more += 1
        H.check(more >= 5, "after ACKs the animation should flow again (got %d)" % more)
        display.close()
        main.close()


def case_link_errors_for_sessions_and_ids(args):
    with H.ServerProcess(args.server, ["--disable-ticketing"]) as srv:
        stray = RawChannel(srv.port, H.CHANNEL_DISPLAY, connection_id=12345)
        H.check(stray.link_error == H.LINK_ERR_BAD_CONNECTION_ID,
                "unknown session: error %d, want BAD_CONNECTION_ID" % stray.link_error)
        main = RawChannel(srv.port)
        sid = session_id_of(main)
        second_display = RawChannel(srv.port, H.CHANNEL_DISPLAY, sid, channel_id=1)
        H.check(second_display.link_error == H.LINK_ERR_CHANNEL_NOT_AVAILABLE,
                "display:1 error %d" % second_display.link_error)
        playback = RawChannel(srv.port, 5, sid)  # a defined type we don't serve
        H.check(playback.link_error == H.LINK_ERR_CHANNEL_NOT_AVAILABLE,
                "playback error %d" % playback.link_error)
        inputs = RawChannel(srv.port, H.CHANNEL_INPUTS, sid)
        H.check(inputs.link_error == H.LINK_ERR_OK, "inputs link")
        again = RawChannel(srv.port, H.CHANNEL_INPUTS, sid)
        H.check(again.link_error == H.LINK_ERR_CHANNEL_NOT_AVAILABLE,
                "a second inputs channel in one session: error %d" % again.link_error)
        main.close()


def case_hostile_messages(args):
    # The hostile session and the watcher are two clients: both must be served.
    with H.ServerProcess(args.server, ["--disable-ticketing", "--multi-client", "shared"]) as srv:
        watcher = H.SpiceClient(port=srv.port, name="watcher").connect()
        watcher.wait_first_invalidate(15.0)
        main = RawChannel(srv.port)
        sid = session_id_of(main)

        huge = RawChannel(srv.port, H.CHANNEL_INPUTS, sid)
        huge.sock.sendall(struct.pack("<HI", MSGC_INPUTS_KEY_DOWN, 0x7fffffff))
        H.check(huge.closed_by_server(), "oversized message: connection should close")

        main2 = RawChannel(srv.port)
        sid2 = session_id_of(main2)
        unknown = RawChannel(srv.port, H.CHANNEL_INPUTS, sid2)
        unknown.send(9999, b"abc")
        H.check(unknown.closed_by_server(), "unknown message type: connection should close")

        main3 = RawChannel(srv.port)
        sid3 = session_id_of(main3)
        short = RawChannel(srv.port, H.CHANNEL_INPUTS, sid3)
        short.send(MSGC_INPUTS_KEY_DOWN, b"\x1e\x00")  # KEY_DOWN needs 4 bytes
        H.check(short.closed_by_server(), "truncated KEY_DOWN: connection should close")

        before = watcher.invalidate_count
        H.check(H.wait_until(lambda: watcher.invalidate_count > before + 5, 10.0),
                "the watching client should keep receiving the animation")
        for sock in (main, main2, main3):
            sock.close()
        H.pump(0.3)
        log = srv.log()
        for pattern in (r"announces 2147483647 bytes", r"bad message type 9999",
                        r"bad message type 101 \(2 bytes\): truncated"):
            H.check(re.search(pattern, log), "no log line matching %r" % pattern)
        watcher.disconnect()


def main():
    args = H.parse_args(__doc__)
    return H.run_cases([
        ("protocol_full_headers", case_full_headers),
        ("protocol_ack_window", case_ack_window),
        ("protocol_link_errors", case_link_errors_for_sessions_and_ids),
        ("protocol_hostile_messages", case_hostile_messages),
    ], args)


if __name__ == "__main__":
    sys.exit(main())
