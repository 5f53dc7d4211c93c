// QR pictures of an enrolment URI: the PNG is a valid greyscale PNG whose pixels are the
// matrix (decoded here with zlib), the SVG draws exactly the dark modules. That the PNG
// decodes to the URI with an independent reader (zbarimg) is the interop suite's job.

#include "auth/qr_code.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace gatehouse::auth {
namespace {

constexpr std::string_view kUri =
    "otpauth://totp/Gatehouse:ada%40example.org?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30";

std::uint32_t ReadU32(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
         (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

struct Chunk {
  std::string type;
  std::vector<std::uint8_t> data;
  bool crc_ok = false;
};

std::vector<Chunk> Chunks(const std::vector<std::uint8_t>& png) {
  std::vector<Chunk> chunks;
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::uint32_t length = ReadU32(png, at);
    Chunk chunk;
    chunk.type.assign(png.begin() + at + 4, png.begin() + at + 8);
    chunk.data.assign(png.begin() + at + 8, png.begin() + at + 8 + length);
    const uLong crc = crc32(0L, png.data() + at + 4, 4 + length);
    chunk.crc_ok = crc == ReadU32(png, at + 8 + length);
    chunks.push_back(std::move(chunk));
    at += 12 + length;
  }
  return chunks;
}

TEST(QrCode, MatrixHasAVersionSizeAndFinderPatterns) {
  auto matrix = EncodeQr(kUri);
  ASSERT_TRUE(matrix.ok()) << matrix.error().detail();
  // Versions are 21 + 4 (v - 1) modules wide.
  EXPECT_EQ((matrix->size - 21) % 4, 0);
  // The top-left finder pattern: a dark 7x7 ring around a light ring around a dark 3x3.
  for (int i = 0; i < 7; ++i) {
    EXPECT_TRUE(matrix->At(i, 0));
    EXPECT_TRUE(matrix->At(0, i));
    EXPECT_TRUE(matrix->At(i, 6));
  }
  EXPECT_FALSE(matrix->At(1, 1));
  EXPECT_TRUE(matrix->At(3, 3));
}

TEST(QrCode, RefusesEmptyAndOversizedText) {
  EXPECT_FALSE(EncodeQr("").ok());
  EXPECT_FALSE(EncodeQr(std::string(1025, 'a')).ok());
  EXPECT_TRUE(EncodeQr(std::string(1024, 'a')).ok());
}

TEST(QrCode, PngIsAGreyscaleImageOfTheMatrix) {
  auto matrix = EncodeQr(kUri);
  ASSERT_TRUE(matrix.ok());
  const int scale = 3;
  const int quiet = 4;
  auto png = QrPng(*matrix, scale, quiet);
  ASSERT_TRUE(png.ok());

  static constexpr std::uint8_t kSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  ASSERT_GT(png->size(), 8u);
  EXPECT_TRUE(std::equal(std::begin(kSignature), std::end(kSignature), png->begin()));
  std::vector<Chunk> chunks = Chunks(*png);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].type, "IHDR");
  EXPECT_EQ(chunks[1].type, "IDAT");
  EXPECT_EQ(chunks[2].type, "IEND");
  for (const Chunk& c : chunks) EXPECT_TRUE(c.crc_ok) << c.type;

  const int side = (matrix->size + 2 * quiet) * scale;
  EXPECT_EQ(ReadU32(chunks[0].data, 0), static_cast<std::uint32_t>(side));
  EXPECT_EQ(ReadU32(chunks[0].data, 4), static_cast<std::uint32_t>(side));
  EXPECT_EQ(chunks[0].data[8], 8);  // Bit depth.
  EXPECT_EQ(chunks[0].data[9], 0);  // Greyscale.

  std::vector<std::uint8_t> raw(static_cast<std::size_t>(side) * (side + 1));
  uLongf raw_size = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &raw_size, chunks[1].data.data(), chunks[1].data.size()), Z_OK);
  ASSERT_EQ(raw_size, raw.size());
  for (int y = 0; y < side; ++y) {
    ASSERT_EQ(raw[static_cast<std::size_t>(y) * (side + 1)], 0) << "filter of row " << y;
    for (int x = 0; x < side; ++x) {
      const int mx = x / scale - quiet;
      const int my = y / scale - quiet;
      const bool inside = mx >= 0 && my >= 0 && mx < matrix->size && my < matrix->size;
      const bool dark = inside && matrix->At(mx, my);
      ASSERT_EQ(raw[static_cast<std::size_t>(y) * (side + 1) + 1 + x], dark ? 0 : 255)
          << x << "," << y;
    }
  }
}

TEST(QrCode, SvgDrawsEachDarkModuleOnce) {
  auto matrix = EncodeQr(kUri);
  ASSERT_TRUE(matrix.ok());
  const std::string svg = QrSvg(*matrix);
  const std::string full = std::to_string(matrix->size + 8);
  EXPECT_EQ(
      svg.rfind(
          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + full + " " + full + "\"", 0),
      0u);
  std::size_t dark = 0;
  for (bool d : matrix->dark) dark += d ? 1 : 0;
  std::size_t drawn = 0;
  for (std::size_t at = svg.find("h1v1h-1z"); at != std::string::npos;
       at = svg.find("h1v1h-1z", at + 1)) {
    ++drawn;
  }
  EXPECT_EQ(drawn, dark);
  // The first module of the finder pattern sits at the quiet zone's corner.
  EXPECT_NE(svg.find("M4,4h1v1h-1z"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::auth
