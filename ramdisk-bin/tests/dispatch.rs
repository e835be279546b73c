//! Multicall dispatch of the built binary: argv[0] through links, `ramdisk APPLET`, `--list`,
//! `--install`, and the unknown-applet message.
