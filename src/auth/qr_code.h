#pragma once

// QR codes of enrolment URIs, as pictures a browser shows: SVG text and PNG bytes. The
// matrix comes from libqrencode; the SVG and the PNG writer are ours (the PNG is 8-bit
// greyscale, one IDAT compressed by zlib), small enough that no image library is needed.
//
// The QR code carries a TOTP secret: the caller sends it once, over TLS, and keeps no copy.
// Thread safety: all functions may be called from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gatehouse::auth {

// A square of modules, row by row; true is dark.
struct QrMatrix {
  int size = 0;
  std::vector<bool> dark;

  bool At(int x, int y) const { return dark[static_cast<std::size_t>(y * size + x)]; }
};

// Encodes `text` in byte mode at error correction level M (15% of the symbol may be lost),
// choosing the smallest version that fits.
// Errors: kInvalidArgument for empty text or text longer than 1024 bytes (an enrolment URI
// is about 150); kInternal when libqrencode fails.
Result<QrMatrix> EncodeQr(std::string_view text);

// An SVG document (one <path> of the dark modules, a white background) with a quiet zone of
// `quiet_zone` modules (ISO/IEC 18004 asks for 4); each module is one user unit, so the
// picture scales without blur.
std::string QrSvg(const QrMatrix& matrix, int quiet_zone = 4);

// A PNG of the matrix, `scale` pixels per module, with a quiet zone of `quiet_zone` modules.
// Errors: kInternal when zlib fails (memory exhaustion).
Result<std::vector<std::uint8_t>> QrPng(const QrMatrix& matrix, int scale = 6, int quiet_zone = 4);

// An 8-bit greyscale PNG (colour type 0) of `width` x `height` pixels, row by row.
// REQUIRES: pixels.size() == width * height, both at least 1.
// Errors: kInternal when zlib fails.
Result<std::vector<std::uint8_t>> EncodeGreyPng(int width, int height,
                                                const std::vector<std::uint8_t>& pixels);

}  // namespace gatehouse::auth
