package deb

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// goToDebian maps GOARCH values that need no GOARM to Debian architectures.
var goToDebian = map[string]string{
	"amd64":    "amd64",
	"arm64":    "arm64",
	"386":      "i386",
	"ppc64le":  "ppc64el",
	"s390x":    "s390x",
	"riscv64":  "riscv64",
	"mips64le": "mips64el",
	"mipsle":   "mipsel",
	"loong64":  "loong64",
}

// ErrNeedGOARM is returned (wrapped) by Arch for GOARCH=arm without GOARM:
// armel and armhf binaries are not interchangeable, so the Debian
// architecture cannot be guessed. Callers tell the user where their GOARM
// goes (a flag, a spec key, the environment); this package does not know.
var ErrNeedGOARM = errors.New("GOARCH=arm needs GOARM to choose the Debian architecture: 5 (armel), 6 or 7 (armhf)")

// Arch maps GOARCH (and GOARM, for arm) to a Debian architecture name:
// amd64, arm64, armhf (arm with GOARM 6 or 7), armel (GOARM 5), i386, ppc64el,
// s390x, riscv64, mips64el, mipsel. A GOARM suffix such as ",softfloat" is
// ignored. Bare arm without GOARM is ErrNeedGOARM.
func Arch(goarch, goarm string) (string, error) {
	if goarch == "arm" {
		v, _, _ := strings.Cut(goarm, ",")
		switch v {
		case "5":
			return "armel", nil
		case "6", "7":
			return "armhf", nil
		case "":
			return "", ErrNeedGOARM
		}
		return "", fmt.Errorf("GOARM=%q: want 5 (armel), 6 or 7 (armhf)", goarm)
	}
	if a, ok := goToDebian[goarch]; ok {
		return a, nil
	}
	known := make([]string, 0, len(goToDebian)+1)
	for k := range goToDebian {
		known = append(known, k)
	}
	known = append(known, "arm")
	sort.Strings(known)
	return "", fmt.Errorf("GOARCH=%q has no Debian architecture (known: %s)", goarch, strings.Join(known, ", "))
}
