// Package cloudinit holds the tests of the cloud-init user data
// (user-data.yaml) and of the scripts it embeds: bootstrap-autoupdate,
// which fetches the autoupdate package from S3 with the instance role
// (IMDSv2 and SigV4 in Python's standard library) and verifies its signed
// release manifest with openssl or a pinned SHA-256 before anything is
// installed, and prints the instance's IAM userid (STS); and firstboot.sh.
// It has no code of its own; docs/cloud-init.md explains the files.
package cloudinit
