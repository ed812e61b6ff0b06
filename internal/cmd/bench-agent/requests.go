package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/debfleet/debfleet/internal/realparts"
)

// breakdown summarises requests as "N HEAD (N 304), N GET, N PUT status".
type breakdown struct {
	total, head, notModified, get, putStatus, other, errors int
	// errorKinds counts the errors by "METHOD status".
	errorKinds map[string]int
}

// errorText is e.g. "200 errors (200 GET 403)", or "0 errors".
func (b breakdown) errorText() string {
	if b.errors == 0 {
		return "0 errors"
	}
	var kinds []string
	for k, n := range b.errorKinds {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	slices.Sort(kinds)
	return fmt.Sprintf("%d errors (%s)", b.errors, strings.Join(kinds, ", "))
}

// summarise counts requests the proxy recorded by method and outcome.
func summarise(reqs []realparts.S3Request) breakdown {
	b := breakdown{errorKinds: map[string]int{}}
	for _, q := range reqs {
		b.total++
		switch {
		case q.Method == http.MethodHead:
			b.head++
			if q.Code == http.StatusNotModified {
				b.notModified++
			}
		case q.Method == http.MethodGet && q.Kind != realparts.KindStatus:
			b.get++
		case q.Method == http.MethodPut && q.Kind == realparts.KindStatus:
			b.putStatus++
		default:
			b.other++
		}
		if q.Code >= 400 && q.Code != http.StatusNotModified && q.Code != http.StatusPreconditionFailed {
			b.errors++
			b.errorKinds[fmt.Sprintf("%s %d %s", q.Method, q.Code, q.Target)]++
		}
	}
	return b
}

// peakPerSecond is the largest number of requests in one whole second.
func peakPerSecond(reqs []realparts.S3Request) int {
	per := map[int64]int{}
	peak := 0
	for _, q := range reqs {
		s := q.At.Unix()
		per[s]++
		peak = max(peak, per[s])
	}
	return peak
}
