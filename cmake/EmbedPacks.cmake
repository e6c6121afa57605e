# Writes ${OUT} holding every policies/*.yaml as a raw string literal, so the packs stay the one
# source of truth and the binary carries them. Re-runs when a pack changes.
function(stepgate_embed_packs OUT)
  file(GLOB packs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/policies/*.yaml)
  list(SORT packs)
  set(body "")
  set(names "")
  set(tests_body "")
  foreach(pack ${packs})
    get_filename_component(name ${pack} NAME_WE)
    file(READ ${pack} text)
    string(FIND "${text}" ")sgpack\"" clash)
    if(NOT clash EQUAL -1)
      message(FATAL_ERROR "${pack} contains the embedding delimiter")
    endif()
    string(APPEND body "    {\"${name}\", R\"sgpack(${text})sgpack\"},\n")
    # The pack's test cases: `stepgate init` writes them beside the policy as starter cases.
    set(tests "")
    if(EXISTS ${PROJECT_SOURCE_DIR}/policies/tests/${name}.yaml)
      file(READ ${PROJECT_SOURCE_DIR}/policies/tests/${name}.yaml tests)
      string(FIND "${tests}" ")sgpack\"" clash)
      if(NOT clash EQUAL -1)
        message(FATAL_ERROR "policies/tests/${name}.yaml contains the embedding delimiter")
      endif()
    endif()
    string(APPEND tests_body "    {\"${name}\", R\"sgpack(${tests})sgpack\"},\n")
  endforeach()
  file(WRITE ${OUT}.tmp
"// Generated from policies/*.yaml by cmake/EmbedPacks.cmake. Do not edit.
#include \"embedded_packs.h\"

#include <algorithm>
#include <utility>

namespace stepgate {
namespace {
const std::pair<std::string_view, std::string_view> kPacks[] = {
${body}};
const std::pair<std::string_view, std::string_view> kPackTests[] = {
${tests_body}};
}  // namespace

std::vector<std::string> embedded_pack_names() {
  std::vector<std::string> names;
  for (const auto& p : kPacks) names.emplace_back(p.first);
  return names;
}

std::string_view embedded_pack(std::string_view name) {
  for (const auto& p : kPacks) {
    if (p.first == name) return p.second;
  }
  return {};
}

std::string_view embedded_pack_tests(std::string_view name) {
  for (const auto& p : kPackTests) {
    if (p.first == name) return p.second;
  }
  return {};
}

}  // namespace stepgate
")
  configure_file(${OUT}.tmp ${OUT} COPYONLY)
endfunction()
