# Installing the library (static and shared, with its soname), the headers,
# the command and nmtrain.pc, whose paths are the PREFIX given here:
#     make install PREFIX=/usr/local
# `make install-check` (in `make check`) installs into a temporary prefix and
# builds and runs docs/example.c against it through pkg-config, as a user
# would, with the shared library.
.PHONY: install install-check
CHECK_EXTRA += install-check

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/nmtrain $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/libnmtrain.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libnmtrain.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libnmtrain.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libnmtrain.so
	install -m 644 include/nmtrain.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/nmtrain/*.h $(DESTDIR)$(PREFIX)/include/nmtrain/
	install -m 755 $(BUILD)/nmtrain $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' nmtrain.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nmtrain.pc

INSTALL_CHECK := $(abspath $(BUILD))/install-check
install-check: all
	rm -rf $(INSTALL_CHECK)
	$(MAKE) --no-print-directory install PREFIX=$(INSTALL_CHECK)/prefix > /dev/null
	./tests/check_symbols.sh $(INSTALL_CHECK)/prefix/lib/libnmtrain.a $(INSTALL_CHECK)/prefix/lib/libnmtrain.so
	export PKG_CONFIG_PATH=$(INSTALL_CHECK)/prefix/lib/pkgconfig; \
	test "$$(pkg-config --variable=prefix nmtrain)" = $(INSTALL_CHECK)/prefix && \
	test "$$(pkg-config --modversion nmtrain)" = $(VERSION) && \
	$(CC) -std=c11 -Wall -Wextra -Werror -o $(INSTALL_CHECK)/example docs/example.c $$(pkg-config --cflags --libs nmtrain)
	readelf -d $(INSTALL_CHECK)/example | grep -q 'NEEDED.*\[$(SONAME)\]'
	LD_LIBRARY_PATH=$(INSTALL_CHECK)/prefix/lib $(INSTALL_CHECK)/example
