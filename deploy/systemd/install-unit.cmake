# Runs during `cmake --install` (see the top-level CMakeLists.txt): writes
# certstation.service from certstation.service.in with the paths of this
# install, then installs it. CMAKE_INSTALL_PREFIX here is the install-time
# prefix (`--prefix DIR` included); DESTDIR is applied by file(INSTALL) and
# never appears in the unit.

# certstation_install_path(OUT DIR): DIR below the prefix unless absolute.
function(certstation_install_path out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

certstation_install_path(bindir "${CERTSTATION_INSTALL_BINDIR}")
certstation_install_path(docdir "${CERTSTATION_INSTALL_DOCDIR}")
certstation_install_path(unitdir "${CERTSTATION_SYSTEMD_UNIT_DIR}")
certstation_install_path(rulesdir "${CERTSTATION_UDEV_RULES_DIR}")

set(CERTSTATION_BINARY "${bindir}/certstation")
set(CERTSTATION_DOC_DIR "${docdir}")
configure_file("${CERTSTATION_UNIT_TEMPLATE}" "${CERTSTATION_UNIT_OUTPUT}" @ONLY)
file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES "${CERTSTATION_UNIT_OUTPUT}")
# the daily ledger backup: a generated service (it names the binary too) and
# its timer
get_filename_component(unit_src_dir "${CERTSTATION_UNIT_TEMPLATE}" DIRECTORY)
get_filename_component(unit_out_dir "${CERTSTATION_UNIT_OUTPUT}" DIRECTORY)
configure_file("${unit_src_dir}/certstation-backup.service.in"
  "${unit_out_dir}/certstation-backup.service" @ONLY)
file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES
  "${unit_out_dir}/certstation-backup.service" "${unit_src_dir}/certstation-backup.timer")

# A unit or a rules file where systemd or udev never look is installed but
# does nothing: say so instead of leaving the engineer to find out.
set(systemd_dirs /etc/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system
                 /lib/systemd/system)
# (list(FIND), not IN_LIST: install scripts run without the project's policies)
list(FIND systemd_dirs "${unitdir}" found)
if(found EQUAL -1)
  message(WARNING "certstation.service installed to ${unitdir}, where systemd does not look "
    "for units: configure with -DCERTSTATION_SYSTEMD_UNIT_DIR=/etc/systemd/system or link it "
    "(systemctl link ${unitdir}/certstation.service)")
endif()
set(udev_dirs /etc/udev/rules.d /usr/local/lib/udev/rules.d /usr/lib/udev/rules.d
              /lib/udev/rules.d)
list(FIND udev_dirs "${rulesdir}" found)
if(found EQUAL -1)
  message(WARNING "60-certstation-fixtures.rules installed to ${rulesdir}, where udev does "
    "not look for rules: configure with -DCERTSTATION_UDEV_RULES_DIR=/etc/udev/rules.d")
endif()
