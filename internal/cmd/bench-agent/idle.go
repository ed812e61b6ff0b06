package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/debfleet/debfleet/fleet"
)

// Idle targets, from the agent's issue.
const (
	idleCPUTarget = 0.05 // percent of one core
	idleRSSTarget = 20e6 // bytes
	// defaultHeartbeat is the agent's --heartbeat default: one status
	// PUT per heartbeat is part of the idle cost.
	defaultHeartbeat = 10 * time.Minute
)

// idle runs one agent on a channel whose release it has installed and
// measures, over o.duration, the S3 requests it makes, its CPU time and
// its peak RSS.
func (b *bench) idle(ctx context.Context, out io.Writer) error {
	if _, _, err := b.publish(ctx, "1", fleet.DefaultPolicy()); err != nil {
		return err
	}
	a, err := b.startAgent(ctx, "idle-agent", b.agentEnv())
	if err != nil {
		return err
	}
	b.logf("started autoupdate (pid %d, --interval %v, default jitter); waiting for it to install release 1", a.pid(), b.o.interval)
	if _, err := b.waitInstalled(ctx, "1", 100*time.Millisecond); err != nil {
		return err
	}
	if _, err := b.statusOK(ctx, a.host, "1", 30*time.Second); err != nil {
		return err
	}
	// Let the install's status write and the next poll's connection setup
	// settle out of the window.
	if err := b.sleep(ctx, time.Second); err != nil {
		return err
	}
	start := time.Now()
	cpu0, err := readCPU(a.pid())
	if err != nil {
		return err
	}
	b.logf("release 1 installed; measuring the idle agent for %v", b.o.duration)
	if err := b.sleep(ctx, b.o.duration); err != nil {
		return err
	}
	cpu1, err := readCPU(a.pid())
	if err != nil {
		return err
	}
	mem, err := readMemory(a.pid())
	if err != nil {
		return err
	}
	end := time.Now()
	window := end.Sub(start)
	reqs := summarise(b.proxy.Between(start, end))
	a.stop(stopGrace)
	b.logf("stopped the agent")

	cpu := cpu1.self - cpu0.self
	cpuPct := 100 * cpu.Seconds() / window.Seconds()
	intervals := window.Seconds() / b.o.interval.Seconds()
	// The shortest interval the jitter allows bounds the polls; the
	// heartbeat adds one status PUT per period.
	maxHeads := int(window.Seconds()/(0.8*b.o.interval.Seconds())) + 1
	maxPuts := int(window/defaultHeartbeat) + 1
	reqOK := reqs.head <= maxHeads && reqs.putStatus <= maxPuts && reqs.get+reqs.other == 0

	fmt.Fprintf(out, "\nIdle agent: 1 autoupdate, --interval %v (jitter 20%%), installed release unchanged, %v measured\n", b.o.interval, window.Round(time.Second))
	fmt.Fprintf(out, "S3 requests at the proxy: %d HEAD (%d answered 304), %d GET, %d status PUT, %d other, %s\n",
		reqs.head, reqs.notModified, reqs.get, reqs.putStatus, reqs.other, reqs.errorText())
	fmt.Fprintf(out, "CPU in the window: %v on CPU, summed over threads (utime+stime in 10 ms ticks: %v); whole life incl. start and install: %v; dpkg children: %v\n",
		cpu, cpu1.ticks-cpu0.ticks, cpu1.self, cpu1.children)
	fmt.Fprintf(out, "Memory: VmHWM %s, VmRSS at the end %s\n\n", mb(mem.peak), mb(mem.rss))
	table(out, [][]string{
		{"metric", "measured", "target", "result"},
		{"S3 requests per interval", fmt.Sprintf("%.2f (%d in %.1f intervals)", float64(reqs.total)/intervals, reqs.total, intervals),
			fmt.Sprintf("1 HEAD (<= %d HEAD, <= %d heartbeat PUT)", maxHeads, maxPuts), verdict(reqOK)},
		{"CPU, % of one core", fmt.Sprintf("%.4f%% (%v in %v)", cpuPct, cpu, window.Round(time.Second)), fmt.Sprintf("< %.2f%%", idleCPUTarget), verdict(cpuPct < idleCPUTarget)},
		{"peak RSS (VmHWM)", mb(mem.peak), fmt.Sprintf("< %s", mb(idleRSSTarget)), verdict(mem.peak < idleRSSTarget)},
	})
	return nil
}
