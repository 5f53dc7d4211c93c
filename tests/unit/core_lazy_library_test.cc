#include "core/lazy_library.h"

#include <gtest/gtest.h>

#include <cstring>

namespace gatehouse::core {
namespace {

TEST(LazyLibrary, ResolvesASymbolOfAnInstalledLibrary) {
  // zlib is installed wherever Gatehouse builds (it is linked for PNG output).
  LazyLibrary zlib("libz.so.1");
  using VersionFn = const char*();
  auto* version = reinterpret_cast<VersionFn*>(zlib.Symbol("zlibVersion"));
  ASSERT_NE(version, nullptr) << zlib.error();
  EXPECT_GT(std::strlen(version()), 0u);
  EXPECT_EQ(zlib.error(), "");
}

TEST(LazyLibrary, MissingSymbolIsNull) {
  LazyLibrary zlib("libz.so.1");
  EXPECT_EQ(zlib.Symbol("gatehouse_no_such_symbol"), nullptr);
  EXPECT_EQ(zlib.error(), "");
}

TEST(LazyLibrary, MissingLibraryGivesNullAndSaysWhy) {
  LazyLibrary missing("libgatehouse-does-not-exist.so.0");
  EXPECT_EQ(missing.Symbol("anything"), nullptr);
  EXPECT_EQ(missing.Symbol("anything_else"), nullptr);
  EXPECT_NE(missing.error().find("libgatehouse-does-not-exist.so.0"), std::string::npos)
      << missing.error();
}

}  // namespace
}  // namespace gatehouse::core
