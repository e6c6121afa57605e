# What `cmake --install` and the Debian package (CPack) put where. Completions and the man page
# are generated from the built `stepgate` itself (`stepgate completion SHELL`, `stepgate man`),
# so they always match its --help.
include(GNUInstallDirs)

set(gen ${CMAKE_BINARY_DIR}/generated/install)
add_custom_command(
  OUTPUT ${gen}/stepgate.bash ${gen}/_stepgate ${gen}/stepgate.fish ${gen}/stepgate.1.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${gen}
  COMMAND sh -c "\"$1\" completion bash > \"$2\"/stepgate.bash" sh $<TARGET_FILE:stepgate> ${gen}
  COMMAND sh -c "\"$1\" completion zsh > \"$2\"/_stepgate" sh $<TARGET_FILE:stepgate> ${gen}
  COMMAND sh -c "\"$1\" completion fish > \"$2\"/stepgate.fish" sh $<TARGET_FILE:stepgate> ${gen}
  COMMAND sh -c "\"$1\" man | gzip -9n > \"$2\"/stepgate.1.gz" sh $<TARGET_FILE:stepgate> ${gen}
  DEPENDS stepgate VERBATIM)
add_custom_target(stepgate_install_files ALL
  DEPENDS ${gen}/stepgate.bash ${gen}/_stepgate ${gen}/stepgate.fish ${gen}/stepgate.1.gz)

install(TARGETS stepgate stepgate-git-hook stepgate-claude-hook stepgate-hook
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${gen}/stepgate.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${gen}/stepgate.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME stepgate)
install(FILES ${gen}/_stepgate DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
install(FILES ${gen}/stepgate.fish DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)
file(GLOB packs ${PROJECT_SOURCE_DIR}/policies/*.yaml ${PROJECT_SOURCE_DIR}/policies/README.md)
install(FILES ${packs} DESTINATION ${CMAKE_INSTALL_DATADIR}/stepgate/policies)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/policies/tests DESTINATION ${CMAKE_INSTALL_DATADIR}/stepgate/policies)
# The systemd units name the program where it is installed: configured at install time, so
# `cmake --install --prefix P` (and the package's /usr) writes P/bin/stepgate into ExecStart, not
# a hardcoded /usr/bin that would start another copy, or nothing.
foreach(unit IN ITEMS "stepgate-authority.service|system" "stepgate-daemon.service|user")
  string(REPLACE "|" ";" unit "${unit}")
  list(GET unit 0 name)
  list(GET unit 1 scope)
  install(CODE "
    set(STEPGATE_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    configure_file(\"${PROJECT_SOURCE_DIR}/packaging/systemd/${name}.in\"
                   \"${CMAKE_BINARY_DIR}/generated/systemd/${name}\" @ONLY)
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/${scope}\" TYPE FILE
         FILES \"${CMAKE_BINARY_DIR}/generated/systemd/${name}\")")
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/hooks/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME hooks.md)
install(FILES ${PROJECT_SOURCE_DIR}/ci/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME ci.md)
file(GLOB docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# `cmake --build build --target package`: a Debian package whose Depends come from the shared
# libraries the binaries actually link (dpkg-shlibdeps). No maintainer scripts: creating the
# authority's system user is `stepgate authority install`'s job, done when an administrator asks.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stepgate)
set(CPACK_PACKAGE_VENDOR "stepgate")
set(CPACK_PACKAGE_CONTACT "stepgate maintainers <maintainers@stepgate.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "step-up confirmation in front of risky actions by people, CI and AI agents")
set(CPACK_PACKAGE_DESCRIPTION
    "stepgate holds risky git pushes, model deployments and AI agent tool calls until the actor
proves them with a TOTP code or an approver's signed grant, and logs every decision in a
tamper-evident audit log. Includes git hooks, a CI gate, an MCP proxy and agent hooks.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "git")
set(CPACK_STRIP_FILES ON)
include(CPack)
