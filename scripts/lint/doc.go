// Package lint holds the tests of the lint scripts next to it that
// `make lint` runs: check-tracked, which fails when git tracks a built
// binary. It has no code of its own.
package lint
