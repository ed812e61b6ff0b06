// Package testcert makes self-signed TLS certificates for servers that
// tests reach over TLS on 127.0.0.1. It imports nothing of ours, so that
// restart's own tests can use it too.
package testcert
