// data_file_path.cpp: data.file resolves against the working dir first, then the spec's folder.
#include "data/data_file_path.h"

#include <doctest/doctest.h>

#include <fstream>

#include "data_test_files.h"

using mp::resolve_data_file;

TEST_CASE("data.file: absolute, beside the spec, working directory") {
  mp::test::TempDir d;
  std::filesystem::create_directories(d.file("cfg/data"));
  std::filesystem::create_directories(d.file("cfg/sub"));
  std::ofstream(d.file("cfg/data/a.h5")) << "x";
  const std::string spec = d.file("cfg/run.yaml");
  CHECK(resolve_data_file("data/a.h5", spec) == d.file("cfg/data/a.h5"));
  CHECK(resolve_data_file("data/b.h5", spec) == "data/b.h5");  // not beside the spec: as given
  CHECK(resolve_data_file(d.file("x.h5"), spec) == d.file("x.h5"));
  CHECK(resolve_data_file("data/a.h5", "") == "data/a.h5");
  CHECK(resolve_data_file("../data/a.h5", d.file("cfg/sub/run.yaml")) == d.file("cfg/data/a.h5"));
}

TEST_CASE("data.file: a file in the working directory wins over one beside the spec") {
  mp::test::TempDir d;
  std::filesystem::create_directories(d.file("cfg/data"));
  std::filesystem::create_directories(d.file("wd/data"));
  std::ofstream(d.file("cfg/data/a.h5")) << "x";
  std::ofstream(d.file("wd/data/a.h5")) << "y";
  const auto old = std::filesystem::current_path();
  std::filesystem::current_path(d.file("wd"));
  CHECK(resolve_data_file("data/a.h5", d.file("cfg/run.yaml")) == "data/a.h5");
  std::filesystem::current_path(old);
}
