"""Image files built byte by byte for the image tests: a PNG of any size, colour type and bit depth that
holds its declared pixels (all zero), a few hundred bytes per megapixel."""
import struct
import zlib

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → samples per pixel: gray, RGB, gray + alpha, RGBA


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(path, width, height, color_type=2, depth=8):
    """A valid PNG of ``width × height`` zero pixels (black, or transparent with alpha), written row by row."""
    compressor, row = zlib.compressobj(9), bytes(1 + CHANNELS[color_type] * depth // 8 * width)
    idat = [compressor.compress(row) for _ in range(height)] + [compressor.flush()]
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(idat))
                     + chunk(b"IEND", b""))
    return path
