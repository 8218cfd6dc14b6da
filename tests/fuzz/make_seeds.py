#!/usr/bin/env python3
# Regenerates the checked-in seed corpora under tests/fuzz/corpus/<target>/ (input layouts:
# the top comment of each <target>.cpp). Usage, from the repository root, after building the
# fuzz targets (the decode-only codec targets' seeds come from our encoders):
#   tests/fuzz/make_seeds.py build-fuzz/tests/fuzz/fuzz_seed_bodies
# Every directory it writes is emptied first, so the seeds are exactly what this script makes.
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, 'corpus')


def target_dir(target):
    path = os.path.join(ROOT, target)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(target, name, data):
    with open(os.path.join(ROOT, target, name), 'wb') as f:
        f.write(data)


def image_header(width, height, placement=0):
    return bytes([width - 1, height - 1, placement])


# Pixel pools (B, G, R, X a pixel) that tile into screen-like content: a text-like row, a
# gradient, a few colours, noise.
TEXT = bytes([0xf0, 0xf0, 0xf0, 0] * 5 + [0x10, 0x10, 0x10, 0] * 2 + [0xf0, 0xf0, 0xf0, 0] * 3)
GRADIENT = bytes(b for i in range(64) for b in (i * 4, 255 - i * 4, i * 2, 0xff))
FEW = bytes([0x30, 0x20, 0x10, 0] * 4 + [0x60, 0x40, 0x20, 0] * 4 + [0x90, 0x60, 0x30, 0] * 2)
NOISE = bytes((i * 2654435761 >> 13) & 0xff for i in range(256))


def roundtrip_seeds():
    target_dir('quic_roundtrip_fuzz')
    for type_index, type_name in enumerate(['rgb32', 'rgb24', 'rgba', 'gray']):
        write('quic_roundtrip_fuzz', type_name + '_text',
              image_header(33, 17) + bytes([type_index]) + TEXT)
    write('quic_roundtrip_fuzz', 'rgb32_gradient_inset',
          image_header(64, 24, 0x40 | 0x15) + bytes([0]) + GRADIENT)
    write('quic_roundtrip_fuzz', 'rgba_noise', image_header(16, 16) + bytes([2]) + NOISE)

    target_dir('lz_roundtrip_fuzz')
    # mode 0: the ImageEncoder (LZ_PLT for few colours, LZ_RGB otherwise); 0x80: LZ_RGB only.
    write('lz_roundtrip_fuzz', 'auto_few', image_header(40, 20) + bytes([0, 0x1b]) + FEW)
    write('lz_roundtrip_fuzz', 'auto_gradient', image_header(64, 16) + bytes([0, 0]) + GRADIENT)
    write('lz_roundtrip_fuzz', 'auto_rgb_only', image_header(40, 20) + bytes([0x80, 0]) + FEW)
    names = ['plt1le', 'plt1be', 'plt4le', 'plt4be', 'plt8', 'rgb16', 'rgb24', 'rgb32', 'rgba',
             'xxxa']
    for mode, name in enumerate(names, start=1):
        write('lz_roundtrip_fuzz', name,
              image_header(23, 9, 0x05) + bytes([mode, 200]) + (TEXT if mode <= 5 else GRADIENT))

    target_dir('glz_roundtrip_fuzz')
    # A window of 2^13 pixels; three 64x32 images from one pool at shifting starts (a scroll),
    # the third as ZLIB_GLZ, then one too large for the window.
    records = b''.join(image_header(64, 32, 0x80 if k == 2 else 0) + struct.pack('<H', 12 * k)
                       for k in range(3))
    write('glz_roundtrip_fuzz', 'scroll', bytes([3, 2]) + records + TEXT + GRADIENT)
    records += image_header(128, 128) + struct.pack('<H', 0)
    write('glz_roundtrip_fuzz', 'scroll_then_too_large', bytes([3, 3]) + records + FEW)

    target_dir('lz4_roundtrip_fuzz')
    write('lz4_roundtrip_fuzz', 'text', image_header(80, 30) + TEXT)
    write('lz4_roundtrip_fuzz', 'gradient_inset', image_header(50, 20, 0x40 | 0x2a) + GRADIENT)
    # 256x100 packs to 75 KiB: more than one (linked) LZ4 block.
    write('lz4_roundtrip_fuzz', 'two_blocks', image_header(256, 100) + NOISE)


def remote_config_seeds():
    target_dir('remote_config_fuzz')
    # The keys README.md's table lists, as a file.
    write('remote_config_fuzz', 'readme_file', b'''# GL display for remote users
remote-port = 5930
remote-tls-port = 5931   # TLS too
remote-addr = 192.0.2.10
remote-x509-dir = /etc/pki/spice
gpu = auto
vulkan-loader = libvulkan.so.1
client-memory-limit = 16777216
glz-memory-limit = 1073741824
partial-message-timeout = 30
pong-timeout = 60
write-timeout = 60
''')
    write('remote_config_fuzz', 'ipv6_brackets', b'remote-addr = [::1]\nremote-port=5930\n')
    # README.md's QEMU example: the settings as environment variables (after the first NUL).
    env = [b'5930', b'', b'192.0.2.10', b'', b'none', b'', b'8388608', b'0', b'5', b'0', b'15']
    write('remote_config_fuzz', 'readme_environment', b'gpu = auto\n\0' + b'\0'.join(env))


def link_seeds():
    target_dir('link_fuzz')
    # [chunk size byte] SpiceLinkHeader (magic "REDQ", 2.2, size) + SpiceLinkMess + caps.
    def link(channel_type, common_caps, channel_caps=(), chunk=31):
        caps = struct.pack('<%dI' % (len(common_caps) + len(channel_caps)), *common_caps,
                           *channel_caps)
        mess = struct.pack('<IBBIII', 0, channel_type, 0, len(common_caps), len(channel_caps),
                           18) + caps
        return bytes([chunk]) + b'REDQ' + struct.pack('<III', 2, 2, len(mess)) + mess
    auth_selection, auth_spice, mini_header = 1 << 0, 1 << 1, 1 << 3
    ticket = bytes(range(128))  # encrypted to a key each run makes: a wrong password
    main = link(1, [auth_selection | auth_spice | mini_header])
    write('link_fuzz', 'main_auth_selection', main + struct.pack('<I', 1) + ticket)
    write('link_fuzz', 'main_plain_ticket', link(1, [0], chunk=3) + ticket)
    write('link_fuzz', 'display_refused', link(2, [auth_selection | mini_header], [0xff]))


def websocket_seeds():
    target_dir('websocket_fuzz')
    head = (b'GET /spice HTTP/1.1\r\nHost: 192.0.2.10:5959\r\nUpgrade: websocket\r\n'
            b'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
            b'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n')

    def frame(opcode, payload, fin=True, mask=b'\x37\xfa\x21\x3d'):
        length = len(payload)
        if length < 126:
            size = bytes([0x80 | length])
        elif length < 65536:
            size = bytes([0x80 | 126]) + struct.pack('>H', length)
        else:
            size = bytes([0x80 | 127]) + struct.pack('>Q', length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bytes([(0x80 if fin else 0) | opcode]) + size + mask + masked

    link = b'REDQ' + struct.pack('<III', 2, 2, 22) + bytes(22)
    write('websocket_fuzz', 'handshake_binary',
          head + frame(2, link) + frame(9, b'ping') + frame(2, bytes(300)))
    write('websocket_fuzz', 'handshake_fragmented_close',
          head + frame(2, link[:7], fin=False) + frame(0, link[7:]) +
          frame(8, struct.pack('>H', 1000) + b'bye'))
    write('websocket_fuzz', 'static_file', b'GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n')


def main():
    roundtrip_seeds()
    remote_config_seeds()
    link_seeds()
    websocket_seeds()
    # qxl_parser_fuzz: its own generator.
    subprocess.run([sys.executable, os.path.join(HERE, 'qxl_parser_seeds.py'),
                    target_dir('qxl_parser_fuzz')], check=True)
    if len(sys.argv) > 1:
        for target in ('quic_fuzz', 'lz_fuzz', 'glz_fuzz', 'image_decoder_fuzz'):
            target_dir(target)
        subprocess.run([sys.argv[1], ROOT], check=True)
    else:
        print('no fuzz_seed_bodies given: quic_fuzz, lz_fuzz, glz_fuzz and image_decoder_fuzz '
              'seeds left as they are')
    total = 0
    for target in sorted(os.listdir(ROOT)):
        files = os.listdir(os.path.join(ROOT, target))
        sizes = [os.path.getsize(os.path.join(ROOT, target, f)) for f in files]
        assert max(sizes) <= 8192, target + ': a seed over 8 KiB'
        total += sum(sizes)
        print('%-22s %3d seeds, %6d bytes' % (target, len(files), sum(sizes)))
    assert total <= 200 * 1024, 'seeds over 200 KiB in all'


if __name__ == '__main__':
    main()
