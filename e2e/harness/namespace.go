package harness

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A distro host (Options.Distros) is an sshd in a mount namespace of its
// own, where each directory of overlayTargets is an overlayfs whose lower
// layer is the machine's directory and whose upper layer is private to the
// host, under Dir/roots/ADDR/NAME/{upper,work}. What the host writes lands
// there, so no other host and not the machine sees it, and Stop throws it
// away. Before sshd starts, the harness writes into the upper layers what
// makes the host look like its distribution: /etc/os-release, the test
// doubles (doubles/*, installed in /usr/local/{sbin,bin} and over the
// machine's own copies) and overlayfs whiteouts that hide the tools the
// distribution does not have (apt-get on CentOS, yum on Ubuntu, ...).

//go:embed doubles
var doublesFS embed.FS

const (
	// doublesDir holds, inside a distro host, every test double (also those
	// a fake package puts on PATH only once installed), lib.sh and the
	// distribution's name.
	doublesDir  = "/usr/local/lib/fleet-doubles"
	nsenterPath = "/usr/bin/nsenter"
	rootsDir    = "roots" // in Fleet.Dir
)

// overlayTargets are the top-level directories each distro host gets a
// private copy of. /usr is overlaid whole (it holds /usr/local and, on a
// merged-/usr system like Debian 12, /bin and /sbin) so that tools can be
// hidden or replaced wherever they live. /bin and /sbin are added when
// they are real directories.
var overlayTargets = []string{"etc", "var", "tmp", "root", "opt", "usr", "home"}

// doubleFiles maps every tool name to the embedded script that implements it.
var doubleFiles = map[string]string{
	"apt-get": "apt-get", "apt": "apt-get", "apt-cache": "apt-cache", "apt-key": "apt-key", "apt-mark": "apt-mark",
	"dpkg": "dpkg", "dpkg-query": "dpkg", "lsb_release": "lsb_release", "add-apt-repository": "add-apt-repository",
	"yum": "yum", "dnf": "yum", "yum-config-manager": "yum-config-manager", "rpm": "rpm",
	"systemctl": "systemctl", "service": "systemctl", "curl": "curl", "gpg": "gpg",
	"swapoff": "swapoff", "swapon": "swapoff", "sysctl": "sysctl", "modprobe": "modprobe", "lsmod": "modprobe",
	"docker": "docker", "containerd": "containerd", "dockerd": "pkgbin", "ctr": "pkgbin", "runc": "pkgbin",
	"crictl": "pkgbin", "kubelet": "pkgbin", "kubeadm": "kubeadm", "kubectl": "pkgbin",
}

// sbinTools live in /usr/sbin on a real system; the other doubles in /usr/bin.
var sbinTools = map[string]bool{"swapoff": true, "swapon": true, "sysctl": true, "modprobe": true, "lsmod": true, "service": true}

// foreignTools are the machine's tools of the other package family, hidden
// on hosts that are not of that family (shell patterns on file names).
var foreignTools = map[string][]string{
	"debian": {"apt", "apt-*", "aptitude*", "dpkg", "dpkg-*", "debconf*", "add-apt-repository"},
	"rhel":   {"yum", "yum-*", "dnf", "dnf-*", "microdnf", "rpm", "rpm*"},
}

// nsSetup runs as the host's first process, already in its new mount
// namespace (made private by the Go runtime), and ends by exec'ing sshd so
// the PID Start recorded is the sshd's. It works from inside the host's
// layer folder so that the relative upper/work paths resolve on the real
// filesystem even once the directory holding Dir (e.g. /tmp) is itself
// overlaid. /proc/sys is made read-only so that nothing run on a host can
// change the machine's kernel settings, and the layer folders are hidden
// under an empty tmpfs so one host cannot peek into another's upper layer.
const nsSetup = `set -eu
base=$1 hide=$2 targets=$3
shift 3
cd "$base"
for t in $targets; do
	mount -t overlay "fleet-$t" -o "lowerdir=/$t,upperdir=$t/upper,workdir=$t/work" "/$t"
done
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount -t tmpfs -o size=16k,mode=0700 fleet-hidden "$hide"
cd /
` + doublesDir + `/fleet-init
if [ -x ` + FaultsDir + `/init ]; then ` + FaultsDir + `/init; fi
exec "$@"
`

// hostRoot prepares the upper layers of one distro host.
type hostRoot struct {
	base    string   // Dir/roots/ADDR
	targets []string // overlaid top-level directories
}

// rootsPath is the folder of every host's layers.
func (f *Fleet) rootsPath() string { return filepath.Join(f.Dir, rootsDir) }

// distroCommand prepares h's layers and returns the command that starts
// its sshd (sshdArgs) inside a new mount namespace.
func (f *Fleet) distroCommand(h Host, sshdArgs []string) (*exec.Cmd, error) {
	d, ok := distros[h.Distro]
	if !ok {
		return nil, fmt.Errorf("harness: host %s: unknown distro %q", h.Addr, h.Distro)
	}
	r, err := newHostRoot(filepath.Join(f.rootsPath(), h.Addr))
	if err != nil {
		return nil, fmt.Errorf("harness: host %s: %w", h.Addr, err)
	}
	if err := r.populate(d); err != nil {
		return nil, fmt.Errorf("harness: host %s (%s): %w", h.Addr, d.name, err)
	}
	if err := f.writeFaultFiles(h, r); err != nil {
		return nil, fmt.Errorf("harness: host %s (%s): %w", h.Addr, h.Fault, err)
	}
	args := append([]string{"-c", nsSetup, "fleet-host", r.base, f.rootsPath(), strings.Join(r.targets, " ")}, sshdArgs...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Unshareflags: syscall.CLONE_NEWNS}
	return cmd, nil
}

func newHostRoot(base string) (*hostRoot, error) {
	if err := os.RemoveAll(base); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	r := &hostRoot{base: base}
	for _, t := range slices.Concat(overlayTargets, []string{"bin", "sbin"}) {
		st, err := os.Lstat("/" + t)
		if err != nil || !st.IsDir() {
			switch t {
			case "etc", "var", "usr", "tmp", "home":
				return nil, fmt.Errorf("/%s is not a directory on this machine: cannot overlay it", t)
			}
			// e.g. no /opt (creating one would change the machine), or
			// /bin a link into a merged /usr
			continue
		}
		for _, sub := range []string{"upper", "work"} {
			if err := os.MkdirAll(filepath.Join(base, t, sub), 0o755); err != nil {
				return nil, err
			}
		}
		// The upper layer's root gives the merged directory its owner
		// and mode (/tmp must stay 1777).
		if err := mirrorAttrs(filepath.Join(base, t, "upper"), st); err != nil {
			return nil, err
		}
		r.targets = append(r.targets, t)
	}
	return r, nil
}

// mirrorAttrs gives path the owner and permission bits (sticky and setgid
// included) of st.
func mirrorAttrs(p string, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := os.Lchown(p, int(sys.Uid), int(sys.Gid)); err != nil {
		return err
	}
	return syscall.Chmod(p, sys.Mode&0o7777)
}

// upper maps a path of the host ("usr/local/bin/x", no leading slash) to
// its place in the upper layer, or "" if its top directory is not overlaid.
func (r *hostRoot) upper(rel string) string {
	top, rest, _ := strings.Cut(rel, "/")
	if !slices.Contains(r.targets, top) {
		return ""
	}
	return filepath.Join(r.base, top, "upper", rest)
}

// mkdirs creates the upper-layer directories leading to rel (itself
// included), each with the owner and mode of the machine's directory of
// the same path, or root 0755 if the machine has none.
func (r *hostRoot) mkdirs(rel string) error {
	parts := strings.Split(rel, "/")
	for i := 2; i <= len(parts); i++ {
		sub := strings.Join(parts[:i], "/")
		up := r.upper(sub)
		if up == "" {
			return fmt.Errorf("/%s is not overlaid", sub)
		}
		if st, err := os.Lstat(up); err == nil {
			if st.IsDir() {
				continue
			}
			if err := os.Remove(up); err != nil { // e.g. a whiteout
				return err
			}
		}
		if err := os.Mkdir(up, 0o755); err != nil {
			return err
		}
		if st, err := os.Stat("/" + sub); err == nil && st.IsDir() {
			if err := mirrorAttrs(up, st); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *hostRoot) write(rel string, content []byte, mode os.FileMode) error {
	if err := r.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	up := r.upper(rel)
	_ = os.Remove(up) // a whiteout or symlink from an earlier step
	if err := os.WriteFile(up, content, mode); err != nil {
		return err
	}
	return os.Chmod(up, mode)
}

func (r *hostRoot) symlink(rel, target string) error {
	if err := r.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	up := r.upper(rel)
	_ = os.Remove(up)
	return os.Symlink(target, up)
}

// whiteout hides the machine's /rel inside the host, if there is one.
func (r *hostRoot) whiteout(rel string) error {
	if _, err := os.Lstat("/" + rel); err != nil {
		return nil
	}
	if err := r.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	up := r.upper(rel)
	if err := os.RemoveAll(up); err != nil {
		return err
	}
	// overlayfs: a character device 0/0 in the upper layer hides the
	// lower entry of that name.
	return syscall.Mknod(up, syscall.S_IFCHR, 0) // mode 0000
}

// opaque makes /rel an empty directory inside the host, whatever the
// machine's holds: an upper directory marked opaque hides the lower one's
// entries.
func (r *hostRoot) opaque(rel string) error {
	if err := r.mkdirs(rel); err != nil {
		return err
	}
	return syscall.Setxattr(r.upper(rel), "trusted.overlay.opaque", []byte("y"), 0)
}

// each calls fn on every path, up to the first error.
func each(paths []string, fn func(string) error) error {
	for _, p := range paths {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// binDirs are the directories where tools are hidden or replaced.
func (r *hostRoot) binDirs() []string {
	dirs := []string{"usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin"}
	for _, t := range r.targets {
		if t == "bin" || t == "sbin" {
			dirs = append(dirs, t)
		}
	}
	return dirs
}

// populate writes the distribution's identity, the doubles and the
// whiteouts into the upper layers.
func (r *hostRoot) populate(d distro) error {
	// Identity. Debian's /etc/os-release is a symlink to
	// ../usr/lib/os-release: a regular file in the upper layer replaces the
	// link, and /usr/lib/os-release is rewritten too for tools that read it.
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if err := r.write(p, []byte(d.osRelease), 0o644); err != nil {
			return err
		}
	}
	// What the machine's apt has that the host must not: hidden, or made
	// empty folders.
	hide := []string{"etc/apt", "etc/dpkg", "etc/debian_version", "etc/lsb-release",
		"var/lib/dpkg", "var/lib/apt", "var/cache/apt", "var/cache/debconf", "var/log/apt"}
	var empty []string
	switch {
	case d.name == Ubuntu1604:
		// apt before 1.5 has no https method of its own (apt-transport-https
		// brings it, and recipes test for the file), and apt 1.2 no
		// /etc/apt/keyrings: recipes must create it.
		hide = []string{"usr/lib/apt/methods/https", "etc/apt/trusted.gpg", "etc/apt/keyrings"}
		empty = []string{"etc/apt/sources.list.d", "etc/apt/trusted.gpg.d"}
	case d.family == "debian":
		hide = []string{"etc/apt/trusted.gpg"}
		empty = []string{"etc/apt/sources.list.d", "etc/apt/trusted.gpg.d", "etc/apt/keyrings"}
	}
	etc := func(p string) error { return r.write("etc/"+p, []byte(d.etc[p]), 0o644) }
	link := func(p string) error { return r.symlink("etc/"+p, d.etcLinks[p]) }
	// Every step is tried; the error names each one that failed.
	if err := errors.Join(each(hide, r.whiteout), each(empty, r.opaque),
		each(slices.Sorted(maps.Keys(d.etc)), etc), each(slices.Sorted(maps.Keys(d.etcLinks)), link)); err != nil {
		return err
	}
	// A swap entry, so that disabling swap has something to do.
	fstab, err := os.ReadFile("/etc/fstab")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(fstab) > 0 && !bytes.HasSuffix(fstab, []byte("\n")) {
		fstab = append(fstab, '\n')
	}
	fstab = append(fstab, "/swap.img       none    swap    sw      0       0\n"...)
	if err := r.write("etc/fstab", fstab, 0o644); err != nil {
		return err
	}
	return r.installDoubles(d)
}

// installDoubles puts every double in doublesDir, the distribution's tools
// on PATH (and over the machine's copies), and whiteouts over every other
// copy of a doubled or foreign tool, so that no real package manager,
// service manager or kernel tool can run on the host.
func (r *hostRoot) installDoubles(d distro) error {
	rel := strings.TrimPrefix(doublesDir, "/")
	for _, name := range []string{"lib.sh", "fleet-init", "fleet-join"} {
		b, err := doublesFS.ReadFile("doubles/" + name)
		if err != nil {
			return err
		}
		if err := r.write(rel+"/"+name, b, 0o755); err != nil {
			return err
		}
	}
	if err := r.write(rel+"/distro", []byte(d.name+"\n"), 0o644); err != nil {
		return err
	}
	present := func(t string) bool { return slices.Contains(d.tools, t) }
	for _, t := range slices.Sorted(maps.Keys(doubleFiles)) {
		b, err := doublesFS.ReadFile("doubles/" + doubleFiles[t])
		if err != nil {
			return err
		}
		if err := r.write(rel+"/"+t, b, 0o755); err != nil {
			return err
		}
		native := "usr/bin"
		if sbinTools[t] {
			native = "usr/sbin"
		}
		for _, dir := range r.binDirs() {
			p := dir + "/" + t
			_, err := os.Lstat("/" + p)
			switch {
			case present(t) && (err == nil || dir == native || strings.HasPrefix(dir, "usr/local/")):
				err = r.write(p, b, 0o755)
			case !present(t):
				err = r.whiteout(p)
			default:
				err = nil
			}
			if err != nil {
				return err
			}
		}
	}
	for fam, pats := range foreignTools {
		if fam == d.family {
			continue
		}
		for _, dir := range r.binDirs() {
			for _, pat := range pats {
				matches, _ := filepath.Glob("/" + dir + "/" + pat)
				for _, m := range matches {
					if _, doubled := doubleFiles[filepath.Base(m)]; doubled && present(filepath.Base(m)) {
						continue
					}
					if err := r.whiteout(strings.TrimPrefix(m, "/")); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// OverlayAvailable reports, by mounting one in a throwaway mount
// namespace, whether this machine can give distro hosts overlayfs layers
// (it needs root and a kernel with overlayfs). Tests skip with its error.
func OverlayAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("harness: distro hosts need root (mount namespaces, overlayfs)")
	}
	dir, err := os.MkdirTemp("", "fleet-overlay-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "upper", "probe"), []byte("ok"), 0o644); err != nil {
		return err
	}
	if err := syscall.Mknod(filepath.Join(dir, "upper", "gone"), syscall.S_IFCHR, 0); err != nil {
		return fmt.Errorf("harness: overlayfs whiteouts: mknod: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `cd "$1" && mount -t overlay fleet-check -o lowerdir=lower,upperdir=upper,workdir=work merged && cat merged/probe`, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "ok" {
		return fmt.Errorf("harness: overlayfs is not usable here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(nsenterPath); err != nil {
		return fmt.Errorf("harness: distro hosts need %s (util-linux): %w", nsenterPath, err)
	}
	return nil
}
