package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// memStatus is the resident memory of a process, from /proc/PID/status.
type memStatus struct {
	RSS  int64 // VmRSS, bytes
	HWM  int64 // VmHWM (peak RSS since start), bytes
	Anon int64 // RssAnon: heap, stacks, SQLite's page caches
	File int64 // RssFile: the mapped executable and libraries
}

// readMem reads VmRSS and VmHWM of process pid.
func readMem(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	var m memStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &m.RSS
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &m.HWM
		case strings.HasPrefix(line, "RssAnon:"):
			dst = &m.Anon
		case strings.HasPrefix(line, "RssFile:"):
			dst = &m.File
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return memStatus{}, fmt.Errorf("read memory of process %d: %q: %w", pid, line, err)
		}
		*dst = kb << 10
	}
	if err := sc.Err(); err != nil {
		return memStatus{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return m, nil
}

// rssPeak records the largest VmRSS seen by its samples.
type rssPeak struct {
	pid  int
	peak atomic.Int64
}

// sample reads the current RSS once (errors are ignored: the process may
// be gone, and the peak so far stands).
func (p *rssPeak) sample() {
	if p == nil || p.pid == 0 {
		return
	}
	m, err := readMem(p.pid)
	if err != nil {
		return
	}
	for {
		old := p.peak.Load()
		if m.RSS <= old || p.peak.CompareAndSwap(old, m.RSS) {
			return
		}
	}
}

// mb converts bytes to MB (10^6 bytes), the unit of the targets.
func mb(b int64) float64 { return float64(b) / 1e6 }

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time (user + system) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// The command name (field 2) may contain spaces: fields after it
	// start past the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time of process %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time of process %d: malformed stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read CPU time of process %d: malformed stat", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// cpuOf returns a sampler of process pid's CPU time for loadSpec.cpu, or
// nil when pid is 0.
func cpuOf(pid int) func() time.Duration {
	if pid == 0 {
		return nil
	}
	return func() time.Duration {
		d, _ := procCPU(pid) // a vanished process reads as 0; the row shows it
		return d
	}
}

// loadAvg is the machine's 1-minute load average, "" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
