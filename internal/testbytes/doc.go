// Package testbytes makes deterministic test inputs for compressors:
// bytes that do not compress, and text that does. It depends on nothing
// of ours, so the tests of any package can use it.
package testbytes
