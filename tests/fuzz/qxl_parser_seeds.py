#!/usr/bin/env python3
# Seed inputs for qxl_parser_fuzz (layout in qxl_parser_fuzz.cpp): one valid command of each
# kind in a small guest memory image. Usage: qxl_parser_seeds.py OUT_DIR, then
#   qxl_parser_fuzz OUT_DIR
# Guest offset 0 stays unused: a zero pointer means "none" in QXL.
import os
import struct
import sys
out = sys.argv[1] if len(sys.argv) > 1 else 'qxl_parser_corpus'
os.makedirs(out, exist_ok=True)
class Ram:
    def __init__(s): s.b = bytearray(8)
    def put(s, data):
        while len(s.b) % 8: s.b.append(0)
        at = len(s.b); s.b += data; return at
def rect(l,t,r,b): return struct.pack('<iiii', t, l, b, r)
def chunk(data, nxt=0): return struct.pack('<IQQ', len(data), 0, nxt) + data
def drawable(typ, union, clip=b'', bbox=(0,0,16,16), surface=0):
    d = struct.pack('<QIBBB', 0, surface, 1, typ, 0) + rect(0,0,0,0) + rect(*bbox)
    d += clip if clip else struct.pack('<IQ', 0, 0)
    d += struct.pack('<I', 0) + struct.pack('<iii', -1, -1, -1) + rect(0,0,0,0)*3
    assert len(d) == 123
    return d + union + bytes(64)
def image_bitmap(ram, w, h, fmt, bpp, direct=True, palette=0):
    stride = (w*bpp+7)//8
    pix = bytes(range(256))*((stride*h)//256+1)
    pix = pix[:stride*h]
    if direct: data = ram.put(pix); flags = 1
    else:
        half = (h//2)*stride
        c2 = ram.put(chunk(pix[half:])); data = ram.put(chunk(pix[:half], c2)); flags = 4
    return ram.put(struct.pack('<QBBII', 7, 0, 1, w, h) + struct.pack('<BBIIIQQ', fmt, flags, w, h, stride, palette, data))
def mask(bitmap=0): return struct.pack('<BiiQ', 0, 0, 0, bitmap)
def write(name, mode, typ, off, ram):
    open(os.path.join(out, name), 'wb').write(bytes([mode, typ]) + struct.pack('<I', off) + bytes(ram.b))
# copy, direct 32-bit
r = Ram(); img = image_bitmap(r, 8, 4, 8, 32)
d = r.put(drawable(3, struct.pack('<Q', img) + rect(0,0,8,4) + struct.pack('<HB', 8, 0) + mask()))
write('copy32', 0, 1, d, r)
# copy, chunked 8-bit with palette, with a 1-bit mask
r = Ram(); pal = r.put(struct.pack('<QH', 5, 4) + struct.pack('<IIII', 1, 2, 3, 4))
img = image_bitmap(r, 6, 4, 5, 8, direct=False, palette=pal); m = image_bitmap(r, 6, 4, 1, 1)
d = r.put(drawable(3, struct.pack('<Q', img) + rect(0,0,6,4) + struct.pack('<HB', 8, 0) + mask(m)))
write('copy8pal', 0, 1, d, r)
# fill with clip rects (two chunks)
r = Ram(); c2 = r.put(chunk(rect(5,5,9,9)))
clip = r.put(struct.pack('<I', 2) + chunk(rect(0,0,4,4), c2))
d = r.put(drawable(1, struct.pack('<II', 1, 0xff00ff) + bytes(8) + struct.pack('<H', 8) + mask(), clip=struct.pack('<IQ', 1, clip)))
write('fill_clip', 0, 1, d, r)
# opaque with pattern brush
r = Ram(); img = image_bitmap(r, 4, 4, 8, 32); pat = image_bitmap(r, 2, 2, 8, 32)
brush = struct.pack('<IQii', 2, pat, 1, 1)
d = r.put(drawable(2, struct.pack('<Q', img) + rect(0,0,4,4) + brush + struct.pack('<HB', 8, 0) + mask()))
write('opaque_pat', 0, 1, d, r)
# stroke
r = Ram(); path = struct.pack('<II', 1, 2) + struct.pack('<iiii', 0, 0, 160, 160) + struct.pack('<II', 2, 1) + struct.pack('<ii', 16, 0)
p = r.put(struct.pack('<I', len(path)) + chunk(path)); style = r.put(struct.pack('<ii', 16, 32))
attr = struct.pack('<BBBBiiQ', 8, 0, 0, 2, 16, 0, style)
d = r.put(drawable(10, struct.pack('<Q', p) + attr + struct.pack('<IIi', 1, 0xffffff, 0) + struct.pack('<HH', 8, 8)))
write('stroke', 0, 1, d, r)
# text, A1 glyphs
r = Ram(); g = b''
for x in (0, 8): g += struct.pack('<iiiiHH', x, 10, 0, -8, 7, 3) + bytes([0xff, 0x81, 0xff])
s = r.put(struct.pack('<IHH', len(g), 2, 1) + chunk(g))
t = struct.pack('<Q', s) + rect(0,0,16,16) + struct.pack('<IIi', 1, 0xffffff, 0) + struct.pack('<IIi', 0, 0, 0) + struct.pack('<HH', 8, 8)
d = r.put(drawable(11, t)); write('text', 0, 1, d, r)
# composite with transform
r = Ram(); img = image_bitmap(r, 4, 4, 9, 32); mk = image_bitmap(r, 4, 4, 10, 8)
tr = r.put(struct.pack('<IIIIII', 0x10000, 0, 0, 0, 0x10000, 0))
d = r.put(drawable(14, struct.pack('<IQQQQhhhh', 3, img, tr, mk, 0, 0, 0, 0, 0))); write('composite', 0, 1, d, r)
# quic image in a copy
r = Ram(); body = bytes(40)
q = r.put(struct.pack('<QBBII', 1, 1, 0, 8, 8) + struct.pack('<I', 40) + chunk(body))
d = r.put(drawable(3, struct.pack('<Q', q) + rect(0,0,8,8) + struct.pack('<HB', 8, 0) + mask())); write('quic', 0, 1, d, r)
# compat copy bits
r = Ram(); cd = struct.pack('<QBBH', 0, 1, 4, 0) + rect(0,0,0,0) + rect(0,0,8,8) + struct.pack('<IQI', 0, 0, 0) + struct.pack('<ii', 4, 4) + bytes(64)
d = r.put(cd); write('compat_copybits', 1, 1, d, r)
# surface create
r = Ram(); mem = r.put(bytes(4*4*4))
d = r.put(struct.pack('<QIBI', 0, 1, 0, 0) + struct.pack('<IIIiQ', 32, 4, 4, -16, mem)); write('surface', 0, 5, d, r)
# update, message
r = Ram(); d = r.put(struct.pack('<Q', 0) + rect(0,0,4,4) + struct.pack('<II', 1, 0)); write('update', 0, 2, d, r)
r = Ram(); d = r.put(struct.pack('<Q', 0) + b'hello\0'); write('message', 0, 4, d, r)
# cursor set (alpha 2x2), move
r = Ram(); shape = r.put(struct.pack('<QHHHHH', 1, 0, 2, 2, 0, 0) + struct.pack('<I', 16) + chunk(bytes(range(16))))
d = r.put(struct.pack('<QBhhBQ', 0, 0, 5, 5, 1, shape) + bytes(128)); write('cursor_set', 0, 3, d, r)
r = Ram(); d = r.put(struct.pack('<QBhh', 0, 1, 5, 5) + bytes(140)); write('cursor_move', 0, 3, d, r)
print(len(os.listdir(out)), 'seeds in', out)
