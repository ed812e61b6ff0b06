// Package deb writes and reads Debian binary packages (.deb) in pure Go,
// without dpkg-deb, fakeroot or root.
//
// Build turns a Spec (control fields, files, scripts) into a .deb that
// dpkg, dpkg-deb and lintian accept:
//
//	spec := &deb.Spec{
//		Control: deb.Control{
//			Package: "hello", Version: "1.2.3-1", Architecture: "amd64",
//			Maintainer: "Jane Doe <jane@example.com>",
//			Synopsis:   "greets the world over HTTP",
//		},
//		Entries: []deb.Entry{
//			{Dest: "/usr/bin/hello", Source: "bin/hello", Mode: 0o755},
//			{Dest: "/etc/hello/hello.conf", Source: "hello.conf"}, // a conffile
//			{Type: deb.Symlink, Dest: "/usr/sbin/hello", Target: "../bin/hello"},
//		},
//		Copyright: copyright,
//		ModTime:   time.Unix(sourceDateEpoch, 0),
//	}
//	res, err := deb.Build(ctx, out, spec)
//
// The output is reproducible: it depends only on the Spec and the content of
// the source files (owners are root:root, mtimes are Spec.ModTime, entries
// are sorted, compression does not depend on the number of cores). Memory
// stays bounded whatever the payload: files are streamed through the tar
// writer, md5 and the compressor, and the compressed data tarball is spooled
// to a temporary file because an ar member's size precedes its content.
//
// Read parses a .deb (members, control fields, file list, conffiles,
// scripts) and checks its md5sums; it is safe on hostile input, and one
// Read stays under 64 MB whatever the package holds. ReadControl reads only
// the control fields, from the file's first bytes (a ranged GET of a
// package on S3), within the same bounds.
package deb
