package vm

import (
	"fmt"
	"io"
)

// cpioWriter writes a cpio archive in the "newc" format the kernel unpacks into
// its initramfs. Times are zero and inode numbers sequential, so the same
// entries always give the same bytes.
type cpioWriter struct {
	w   io.Writer
	n   int64 // bytes written
	ino uint32
	err error
}

const cpioTrailer = "TRAILER!!!"

// entry writes one header with its name and data. name has no leading slash.
func (c *cpioWriter) entry(name string, mode uint32, uid, gid int, data []byte) {
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, uid, gid, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr + name + "\x00"))
	c.pad()
	c.write(data)
	c.pad()
}

// close writes the trailer and pads the archive to 512 bytes, so archives can
// be concatenated (the kernel unpacks each in turn).
func (c *cpioWriter) close() error {
	c.entry(cpioTrailer, 0, 0, 0, nil)
	if r := c.n % 512; r != 0 {
		c.write(make([]byte, 512-r))
	}
	return c.err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil {
		c.err = fmt.Errorf("write cpio: %w", err)
	}
}
