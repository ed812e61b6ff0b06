// Package docs holds the documentation that is not Go: the IAM policies
// (iam-agent.json, iam-publisher.json, explained in iam.md) and the
// cloud-init guide. Its tests check that the policies parse and still name
// the keys and actions the code uses.
package docs
