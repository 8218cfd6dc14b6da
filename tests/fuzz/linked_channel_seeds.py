#!/usr/bin/env python3
# Seed inputs for linked_channel_fuzz (layout in linked_channel_fuzz.cpp): for each channel the
# server serves, a short conversation a real client could have once linked. Usage:
#   linked_channel_seeds.py [OUT_DIR]   (default: corpus/linked_channel_fuzz next to this file)
# The generated files are checked in; rerun this after changing it.
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'corpus', 'linked_channel_fuzz')
os.makedirs(out, exist_ok=True)

# Byte 0: the channel, as an index into the served kinds in type order.
MAIN, DISPLAY, INPUTS, CURSOR = 0, 1, 2, 3

# <spice/enums.h>, <spice/protocol.h>, <spice/vd_agent.h>
MSGC_ACK_SYNC, MSGC_ACK, MSGC_PONG, MSGC_MIGRATE_FLUSH_MARK, MSGC_MIGRATE_DATA, \
    MSGC_DISCONNECTING = range(1, 7)
MAIN_CLIENT_INFO, MAIN_MIGRATE_CONNECTED, MAIN_MIGRATE_CONNECT_ERROR, MAIN_ATTACH_CHANNELS, \
    MAIN_MOUSE_MODE_REQUEST, MAIN_AGENT_START, MAIN_AGENT_DATA, MAIN_AGENT_TOKEN, \
    MAIN_MIGRATE_END = range(101, 110)
MAIN_QUALITY_INDICATOR = 112
DISPLAY_INIT, DISPLAY_STREAM_REPORT, DISPLAY_PREFERRED_COMPRESSION, DISPLAY_GL_DRAW_DONE, \
    DISPLAY_PREFERRED_VIDEO_CODEC_TYPE = range(101, 106)
INPUTS_KEY_DOWN, INPUTS_KEY_UP, INPUTS_KEY_MODIFIERS, INPUTS_KEY_SCANCODE = range(101, 105)
INPUTS_MOUSE_MOTION, INPUTS_MOUSE_POSITION, INPUTS_MOUSE_PRESS, INPUTS_MOUSE_RELEASE = \
    range(111, 115)
MAIN_CAP_NAME_AND_UUID, MAIN_CAP_AGENT_CONNECTED_TOKENS = 1, 2
DISPLAY_CAP = dict(SIZED_STREAM=0, MONITORS_CONFIG=1, COMPOSITE=2, A8_SURFACE=3, STREAM_REPORT=4,
                   LZ4_COMPRESSION=5, PREF_COMPRESSION=6, MULTI_CODEC=8, CODEC_MJPEG=9,
                   CODEC_VP8=10, CODEC_H264=11, PREF_VIDEO_CODEC_TYPE=12)
INPUTS_CAP_KEY_SCANCODE = 0
MOUSE_MODE_SERVER, MOUSE_MODE_CLIENT = 1, 2
BUTTON_LEFT, BUTTON_RIGHT = 1, 3
IMAGE_COMPRESSION_AUTO_GLZ, IMAGE_COMPRESSION_LZ4 = 2, 7
VIDEO_CODEC_MJPEG, VIDEO_CODEC_VP8, VIDEO_CODEC_H264 = 1, 2, 3
VD_AGENT_PROTOCOL = 1
VD_AGENT_MONITORS_CONFIG, VD_AGENT_CLIPBOARD, VD_AGENT_ANNOUNCE_CAPABILITIES, \
    VD_AGENT_CLIPBOARD_GRAB, VD_AGENT_CLIPBOARD_REQUEST, VD_AGENT_CLIPBOARD_RELEASE = \
    2, 4, 6, 7, 8, 9
VD_AGENT_CAP_MONITORS_CONFIG, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND = 1, 5
VD_AGENT_CLIPBOARD_UTF8_TEXT = 1

# The harness's own record types: a valid common message built from what the server said.
SEND_ACK, SEND_PONG, SEND_ACK_SYNC = 0xffff, 0xfffe, 0xfffd


def bits(*numbers):
    return sum(1 << n for n in numbers)


def rec(msg_type, body=b''):
    return struct.pack('<HH', msg_type, len(body)) + body


def agent(msg_type, data):
    return struct.pack('<IIQI', VD_AGENT_PROTOCOL, msg_type, 0, len(data)) + data


def write(name, channel, caps, *records):
    data = bytes([channel]) + struct.pack('<I', caps) + b''.join(records)
    assert len(data) <= 4096, name  # the smoke test's -max_len
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)


main_caps = bits(MAIN_CAP_NAME_AND_UUID, MAIN_CAP_AGENT_CONNECTED_TOKENS)

# What spice-gtk's main channel says after MAIN_INIT, then the bandwidth test's two pongs.
write('main_session', MAIN, main_caps,
      rec(SEND_ACK_SYNC),
      rec(MAIN_CLIENT_INFO, struct.pack('<Q', 20 << 20)),
      rec(MAIN_ATTACH_CHANNELS),
      rec(SEND_PONG), rec(SEND_PONG),
      rec(MAIN_MOUSE_MODE_REQUEST, struct.pack('<H', MOUSE_MODE_SERVER)),
      rec(MAIN_MOUSE_MODE_REQUEST, struct.pack('<H', MOUSE_MODE_CLIENT)),
      rec(SEND_ACK),
      rec(MAIN_QUALITY_INDICATOR, b'\x00'),
      rec(MSGC_DISCONNECTING, struct.pack('<QI', 0, 0)))

# The agent: capabilities, a monitor layout, a clipboard round.
monitors = struct.pack('<II', 2, 1) + struct.pack('<IIIii', 480, 640, 32, 0, 0) + \
    struct.pack('<IIIii', 240, 320, 32, 640, 0)
write('main_agent', MAIN, main_caps,
      rec(MAIN_AGENT_START, struct.pack('<I', 10)),
      rec(MAIN_AGENT_DATA, agent(VD_AGENT_ANNOUNCE_CAPABILITIES, struct.pack(
          '<II', 1, bits(VD_AGENT_CAP_MONITORS_CONFIG, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND)))),
      rec(MAIN_AGENT_DATA, agent(VD_AGENT_MONITORS_CONFIG, monitors)),
      rec(MAIN_AGENT_DATA, agent(VD_AGENT_CLIPBOARD_GRAB,
                                 struct.pack('<I', VD_AGENT_CLIPBOARD_UTF8_TEXT))),
      rec(MAIN_AGENT_DATA, agent(VD_AGENT_CLIPBOARD, struct.pack(
          '<I', VD_AGENT_CLIPBOARD_UTF8_TEXT) + b'fuzzed clipboard')),
      rec(MAIN_AGENT_DATA, agent(VD_AGENT_CLIPBOARD_REQUEST,
                                 struct.pack('<I', VD_AGENT_CLIPBOARD_UTF8_TEXT))),
      rec(MAIN_AGENT_TOKEN, struct.pack('<I', 5)),
      rec(MAIN_AGENT_DATA, agent(VD_AGENT_CLIPBOARD_RELEASE, b'')))

# One agent message over two AGENT_DATA payloads.
whole = agent(VD_AGENT_CLIPBOARD, struct.pack('<I', VD_AGENT_CLIPBOARD_UTF8_TEXT) + b'x' * 200)
write('main_agent_split', MAIN, main_caps,
      rec(MAIN_AGENT_START, struct.pack('<I', 10)),
      rec(MAIN_AGENT_DATA, whole[:100]), rec(MAIN_AGENT_DATA, whole[100:]))

display_caps = bits(*(DISPLAY_CAP[name] for name in (
    'SIZED_STREAM', 'MONITORS_CONFIG', 'STREAM_REPORT', 'LZ4_COMPRESSION', 'PREF_COMPRESSION',
    'MULTI_CODEC', 'CODEC_MJPEG', 'PREF_VIDEO_CODEC_TYPE')))
# spice-gtk's display start: caches, compression and codec preferences, then acks.
write('display_init', DISPLAY, display_caps,
      rec(DISPLAY_INIT, struct.pack('<BqBi', 1, 20 << 20, 0, 8 << 20)),
      rec(DISPLAY_PREFERRED_COMPRESSION, bytes([IMAGE_COMPRESSION_LZ4])),
      rec(DISPLAY_PREFERRED_VIDEO_CODEC_TYPE, bytes([2, VIDEO_CODEC_H264, VIDEO_CODEC_MJPEG])),
      rec(SEND_ACK_SYNC), rec(SEND_ACK), rec(SEND_PONG), rec(SEND_ACK))
write('display_reports', DISPLAY, display_caps,
      rec(DISPLAY_INIT, struct.pack('<BqBi', 1, 1 << 20, 0, 0)),
      rec(DISPLAY_PREFERRED_COMPRESSION, bytes([IMAGE_COMPRESSION_AUTO_GLZ])),
      rec(SEND_ACK),
      rec(DISPLAY_STREAM_REPORT, struct.pack('<IIIIIIiI', 0, 1, 1000, 2000, 30, 2, -50, 0)),
      rec(DISPLAY_GL_DRAW_DONE),
      rec(DISPLAY_INIT, struct.pack('<BqBi', 1, 1 << 20, 0, 0)))

# Typing and pointing, in both mouse modes' messages.
scancodes = bytes([0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8])
write('inputs_keys_mouse', INPUTS, bits(INPUTS_CAP_KEY_SCANCODE),
      rec(INPUTS_KEY_MODIFIERS, struct.pack('<H', 0)),
      rec(INPUTS_KEY_DOWN, struct.pack('<I', 0x1e)),
      rec(INPUTS_KEY_UP, struct.pack('<I', 0x9e)),
      rec(INPUTS_KEY_SCANCODE, scancodes),
      rec(INPUTS_MOUSE_POSITION, struct.pack('<IIHB', 100, 80, 0, 0)),
      rec(INPUTS_MOUSE_PRESS, struct.pack('<BH', BUTTON_LEFT, 1)),
      rec(INPUTS_MOUSE_MOTION, struct.pack('<iiH', 5, -3, 1)),
      rec(INPUTS_MOUSE_RELEASE, struct.pack('<BH', BUTTON_LEFT, 0)),
      rec(INPUTS_MOUSE_PRESS, struct.pack('<BH', BUTTON_RIGHT, 4)),
      rec(INPUTS_MOUSE_RELEASE, struct.pack('<BH', BUTTON_RIGHT, 0)),
      rec(SEND_PONG))
write('inputs_motion_burst', INPUTS, 0,
      *[rec(INPUTS_MOUSE_MOTION, struct.pack('<iiH', i, -i, 0)) for i in range(64)])

write('cursor_acks', CURSOR, 0, rec(SEND_ACK_SYNC), rec(SEND_PONG), rec(SEND_ACK), rec(SEND_ACK))

# Common messages any channel takes, and a message cut short at the end.
write('common_partial', MAIN, 0,
      rec(MSGC_MIGRATE_FLUSH_MARK), rec(MSGC_MIGRATE_DATA, b'\x01\x02'),
      rec(MSGC_ACK_SYNC, struct.pack('<I', 7)), rec(MSGC_PONG, struct.pack('<IQ', 1, 0)),
      b'\x68\x00\x04')
