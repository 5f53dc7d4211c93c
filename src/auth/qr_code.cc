#include "auth/qr_code.h"

#include <qrencode.h>
#include <zlib.h>

#include <algorithm>
#include <memory>

namespace gatehouse::auth {
namespace {

constexpr std::size_t kMaxQrText = 1024;

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

// A PNG chunk (PNG specification section 5.3): length, type, data, CRC-32 of type and data.
void PutChunk(std::vector<std::uint8_t>& out, const char (&type)[5],
              const std::vector<std::uint8_t>& data) {
  PutU32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  const uLong crc = crc32(0L, out.data() + type_at, static_cast<uInt>(4 + data.size()));
  PutU32(out, static_cast<std::uint32_t>(crc));
}

}  // namespace

Result<QrMatrix> EncodeQr(std::string_view text) {
  if (text.empty() || text.size() > kMaxQrText) {
    return InvalidArgument("qr text must be 1..1024 bytes");
  }
  const std::string copy(text);
  std::unique_ptr<QRcode, QrFree> code(QRcode_encodeString8bit(copy.c_str(), 0, QR_ECLEVEL_M));
  if (!code) return Internal("QRcode_encodeString8bit failed");

  QrMatrix matrix;
  matrix.size = code->width;
  matrix.dark.resize(static_cast<std::size_t>(code->width) * code->width);
  for (std::size_t i = 0; i < matrix.dark.size(); ++i) {
    // libqrencode: bit 0 of each byte is the module's colour (1 = dark).
    matrix.dark[i] = (code->data[i] & 1) != 0;
  }
  return matrix;
}

std::string QrSvg(const QrMatrix& matrix, int quiet_zone) {
  const int full = matrix.size + 2 * quiet_zone;
  std::string path;
  for (int y = 0; y < matrix.size; ++y) {
    for (int x = 0; x < matrix.size; ++x) {
      if (!matrix.At(x, y)) continue;
      path +=
          "M" + std::to_string(x + quiet_zone) + "," + std::to_string(y + quiet_zone) + "h1v1h-1z";
    }
  }
  const std::string n = std::to_string(full);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + n + " " + n +
         "\" shape-rendering=\"crispEdges\"><rect width=\"" + n + "\" height=\"" + n +
         "\" fill=\"#fff\"/><path fill=\"#000\" d=\"" + path + "\"/></svg>";
}

Result<std::vector<std::uint8_t>> QrPng(const QrMatrix& matrix, int scale, int quiet_zone) {
  const int side = (matrix.size + 2 * quiet_zone) * scale;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(side) * side, 0xff);
  for (int y = 0; y < matrix.size; ++y) {
    for (int x = 0; x < matrix.size; ++x) {
      if (!matrix.At(x, y)) continue;
      for (int dy = 0; dy < scale; ++dy) {
        const int row = (y + quiet_zone) * scale + dy;
        const int col = (x + quiet_zone) * scale;
        std::fill_n(pixels.begin() + static_cast<std::ptrdiff_t>(row) * side + col, scale, 0);
      }
    }
  }
  return EncodeGreyPng(side, side, pixels);
}

Result<std::vector<std::uint8_t>> EncodeGreyPng(int width, int height,
                                                const std::vector<std::uint8_t>& pixels) {
  static constexpr std::uint8_t kSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> out(std::begin(kSignature), std::end(kSignature));

  // IHDR: width, height, bit depth 8, colour type 0 (greyscale), deflate, adaptive
  // filtering, no interlace.
  std::vector<std::uint8_t> header;
  PutU32(header, static_cast<std::uint32_t>(width));
  PutU32(header, static_cast<std::uint32_t>(height));
  header.insert(header.end(), {8, 0, 0, 0, 0});
  PutChunk(out, "IHDR", header);

  // Each scanline starts with its filter type; 0 (none) keeps the writer trivial, and the
  // long runs of equal bytes compress well anyway.
  std::vector<std::uint8_t> raw;
  raw.reserve(static_cast<std::size_t>(height) * (width + 1));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    const auto begin = pixels.begin() + static_cast<std::ptrdiff_t>(y) * width;
    raw.insert(raw.end(), begin, begin + width);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<std::uint8_t> packed(packed_size);
  const int rc = compress2(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size()),
                           Z_BEST_COMPRESSION);
  if (rc != Z_OK) return Internal("zlib compress2 failed: " + std::to_string(rc));
  packed.resize(packed_size);
  PutChunk(out, "IDAT", packed);
  PutChunk(out, "IEND", {});
  return out;
}

}  // namespace gatehouse::auth
