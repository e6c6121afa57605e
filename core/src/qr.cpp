// The enrolment QR code, drawn with UTF-8 half blocks so it fits a terminal.
#include <qrencode.h>

#include <memory>

#include "stepgate/stepup.h"

namespace stepgate {

namespace {

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

constexpr int kQuietZone = 2;

}  // namespace

Result<std::string> render_qr_utf8(const std::string& text) {
  std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
  if (!code) return invalid_argument("the text is too long for a QR code");
  const int width = code->width;
  const int size = width + 2 * kQuietZone;
  // Dark modules are printed as the terminal background and light ones as blocks of the
  // foreground colour: on the usual light-on-dark terminal that is dark-on-light, as cameras
  // expect.
  auto dark = [&](int row, int col) {
    int r = row - kQuietZone;
    int c = col - kQuietZone;
    if (r < 0 || c < 0 || r >= width || c >= width) return false;
    return (code->data[r * width + c] & 1) != 0;
  };
  std::string out;
  for (int row = 0; row < size; row += 2) {
    for (int col = 0; col < size; ++col) {
      bool top = dark(row, col);
      bool bottom = row + 1 < size ? dark(row + 1, col) : false;
      if (!top && !bottom) {
        out += "\u2588";  // █ both light
      } else if (!top) {
        out += "\u2580";  // ▀ top light
      } else if (!bottom) {
        out += "\u2584";  // ▄ bottom light
      } else {
        out += ' ';
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace stepgate
