// Package buildspec turns a package description into the deb.Spec that
// deb.Build writes. The description is a pkgdeb.yaml file, command-line flags
// over it, or both, or a tree laid out for dpkg-deb --build (Tree).
//
// Each key of pkgdeb.yaml is defined once, in one table, with its flag and
// where it lands in a Spec; Parse, RegisterFlags and Flags.Apply all work
// from that table, and errors in the file name the key and its line. A Spec
// is plain data; Resolve does all the file-system and git work: it maps
// source files and directory trees to their destinations, reads maintainer
// scripts, copyright, changelog and manual pages, derives the version from
// git when asked, picks the Debian architecture from GOARCH/GOARM, and
// chooses the mtime clamp (SOURCE_DATE_EPOCH, else the last commit's time,
// else the epoch).
package buildspec
