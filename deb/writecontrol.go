package deb

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// controlTarball builds the compressed control tarball in memory: it holds
// only metadata (control, md5sums, conffiles, scripts and data files).
func controlTarball(ctl *Control, items []item, sums []fileSum, scripts, data []Field, comp Compression, level int, mtime time.Time) ([]byte, error) {
	type file struct {
		name string
		mode fs.FileMode
		body []byte
	}
	files := []file{{"control", 0o644, ctl.Marshal()}}
	var conf []string
	for _, it := range items {
		if it.typ == Regular && it.conffile {
			conf = append(conf, it.dest)
		}
	}
	if len(conf) > 0 {
		sort.Strings(conf)
		files = append(files, file{"conffiles", 0o644, []byte(strings.Join(conf, "\n") + "\n")})
	}
	if len(sums) > 0 {
		sort.Slice(sums, func(i, j int) bool { return sums[i].path < sums[j].path })
		var b strings.Builder
		for _, s := range sums {
			b.WriteString(s.sum + "  " + s.path + "\n")
		}
		files = append(files, file{"md5sums", 0o644, []byte(b.String())})
	}
	for _, s := range scripts {
		files = append(files, file{s.Name, 0o755, []byte(s.Value)})
	}
	for _, d := range data {
		files = append(files, file{d.Name, 0o644, []byte(d.Value)})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })

	var buf bytes.Buffer
	zw, err := compressor(&buf, comp, level)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	root := header("./", 0o755, mtime)
	root.Typeflag = tar.TypeDir
	if err := tw.WriteHeader(root); err != nil {
		return nil, err
	}
	for _, f := range files {
		hdr := header("./"+f.name, f.mode, mtime)
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(f.body))
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
