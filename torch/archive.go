package torch

import (
	"archive/zip"
	"bytes"
	bin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// FileError is a PyTorch file that CheckArchive refused: what is wrong with
// it, in words a user can act on. It does not name the file; the caller
// that read the file adds its path.
type FileError struct{ Problem string }

func (e *FileError) Error() string { return e.Problem }

func badFile(format string, args ...any) error {
	return &FileError{Problem: fmt.Sprintf(format, args...)}
}

// Zip record signatures and fixed sizes (APPNOTE.TXT 4.3).
const (
	sigLocal      = 0x04034b50
	sigDescriptor = 0x08074b50
	sigDirEntry   = 0x02014b50
	sigDirEnd     = 0x06054b50
	sigDir64End   = 0x06064b50
	sigDir64Loc   = 0x07064b50
	localLen      = 30
	// General purpose flags (APPNOTE.TXT 4.4.4).
	flagDescriptor = 0x8
	flagUTF8       = 0x800
	// The MS-DOS folder bit of an entry's external attributes.
	dosDirectory = 0x10
	dirEndLen    = 22
	dir64LocLen  = 20
)

// CheckArchive checks, in Go, that data is a whole PyTorch file before any
// of it reaches libtorch, whose zip reader trusts what it reads: it crashes
// on some truncated files and, built without CRC checks, loads damaged
// tensor data silently.
//
// torch.save writes a zip archive of stored entries (the pickle, one entry
// per tensor storage, a version). CheckArchive requires a well-formed
// central directory; reads every entry and checks its size and CRC-32; and
// walks the file from the first byte to the last, so every local header
// must name the entry the directory names, sit where the one before it
// ended, and the directory and its end record must follow the last entry
// with nothing else after them. A legacy (pre-1.6, non-zip) torch.save file
// is refused with a line saying so.
func CheckArchive(data []byte) error {
	switch {
	case len(data) == 0:
		return badFile("empty file")
	case len(data) >= 2 && data[0] == 0x80 && data[1] <= 5:
		return badFile("a legacy (non-zip) torch.save file, which this build does not read; in PyTorch, load it and save it again with torch.save (PyTorch ≥ 1.6 writes the zip format)")
	case !bytes.HasPrefix(data, []byte("PK\x03\x04")) && !bytes.HasPrefix([]byte("PK\x03\x04"), data):
		return badFile("not a PyTorch file (torch.save writes a zip archive; this does not start like one)")
	}
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return badFile("truncated or corrupt: the zip's central directory is missing or damaged")
	}
	if err != nil {
		return badFile("damaged: an entry name is not a relative path")
	}
	if len(r.File) == 0 {
		return badFile("damaged: the zip archive has no entries")
	}
	for _, f := range r.File {
		if err := checkEntry(f); err != nil {
			return err
		}
	}
	return checkLayout(data, r.File)
}

// checkEntry reads one entry through Go's zip reader, which checks its
// CRC-32 (and its data descriptor's) once the whole entry is read.
func checkEntry(f *zip.File) error {
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return badFile("entry %s: compression method %d, which PyTorch does not write", f.Name, f.Method)
	}
	rc, err := f.Open()
	if err != nil {
		return badFile("entry %s: damaged (%v)", f.Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return badFile("entry %s: CRC mismatch: the file is corrupt", f.Name)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badFile("entry %s ends early: the file is truncated or corrupt", f.Name)
	case err != nil:
		return badFile("entry %s: damaged (%v)", f.Name, err)
	case uint64(n) != f.UncompressedSize64:
		return badFile("entry %s: %d bytes where the directory says %d: the file is corrupt", f.Name, n, f.UncompressedSize64)
	}
	return nil
}

// checkLayout walks the records in file order: local header, data, optional
// data descriptor, for each entry; then the central directory; then the
// zip64 end records if any, and the end record closing the file.
func checkLayout(data []byte, files []*zip.File) error {
	byOffset := make([]*zip.File, len(files))
	copy(byOffset, files)
	offsets := make(map[*zip.File]int64, len(files))
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil {
			return badFile("entry %s: damaged (%v)", f.Name, err)
		}
		offsets[f] = off
	}
	sort.Slice(byOffset, func(i, j int) bool { return offsets[byOffset[i]] < offsets[byOffset[j]] })
	le := bin.LittleEndian
	pos := int64(0)
	size := int64(len(data))
	for _, f := range byOffset {
		if pos+localLen > size || le.Uint32(data[pos:]) != sigLocal {
			return badFile("entry %s: no local header where the previous entry ends: the file is corrupt", f.Name)
		}
		flags := le.Uint16(data[pos+6:])
		nameLen, extraLen := int64(le.Uint16(data[pos+26:])), int64(le.Uint16(data[pos+28:]))
		start := pos + localLen + nameLen + extraLen
		if start != offsets[f] || string(data[pos+localLen:pos+localLen+nameLen]) != f.Name || flags != f.Flags {
			return badFile("entry %s: its local header does not match the directory: the file is corrupt", f.Name)
		}
		// PyTorch's writer sets at most these: sizes in a data descriptor
		// (bit 3) and UTF-8 names (bit 11). Encryption and the rest make
		// libtorch's reader refuse the entry.
		if f.Flags&^(flagDescriptor|flagUTF8) != 0 {
			return badFile("entry %s: zip flags %#x, which PyTorch does not write: the file is corrupt", f.Name, f.Flags)
		}
		// An entry marked as a folder (the MS-DOS attribute) is read by
		// libtorch's reader as empty, silently: torch.save writes none.
		if f.ExternalAttrs&dosDirectory != 0 {
			return badFile("entry %s: marked as a folder in the zip's directory: the file is corrupt", f.Name)
		}
		if flags&0x8 == 0 {
			crc, csize, usize := le.Uint32(data[pos+14:]), le.Uint32(data[pos+18:]), le.Uint32(data[pos+22:])
			if crc != f.CRC32 || (csize != 0xffffffff && uint64(csize) != f.CompressedSize64) || (usize != 0xffffffff && uint64(usize) != f.UncompressedSize64) {
				return badFile("entry %s: its local header does not match the directory: the file is corrupt", f.Name)
			}
		}
		pos = start + int64(f.CompressedSize64)
		if flags&0x8 != 0 {
			n, err := descriptorLen(data, pos, f)
			if err != nil {
				return err
			}
			pos += n
		}
	}
	// The end record: 22 bytes plus its comment, closing the file.
	end := size - dirEndLen
	for end >= pos && !(le.Uint32(data[end:]) == sigDirEnd && end+dirEndLen+int64(le.Uint16(data[end+20:])) == size) {
		end--
	}
	if end < pos {
		return badFile("damaged: the zip's end record is missing or is not the end of the file")
	}
	dirSize, dirOffset := int64(le.Uint32(data[end+12:])), int64(le.Uint32(data[end+16:]))
	dirEnd := end
	// One disk, and the entry counts the directory holds: libtorch's reader
	// refuses anything else ("unsupported multidisk archive", "too many
	// files"), which Go's reader lets pass.
	n := uint64(len(files))
	count := func(v uint64, max uint64) bool { return v == n || v == max }
	if le.Uint16(data[end+4:]) != 0 || le.Uint16(data[end+6:]) != 0 || !count(uint64(le.Uint16(data[end+8:])), 0xffff) || le.Uint16(data[end+8:]) != le.Uint16(data[end+10:]) {
		return badFile("damaged: the zip's end record gives other disks or entry counts than its directory holds")
	}
	if loc := end - dir64LocLen; loc >= pos && le.Uint32(data[loc:]) == sigDir64Loc {
		rec := int64(le.Uint64(data[loc+8:]))
		if rec < pos || rec+56 > loc || le.Uint32(data[rec:]) != sigDir64End {
			return badFile("damaged: the zip64 end record is not where its locator says")
		}
		if rec+12+int64(le.Uint64(data[rec+4:])) != loc {
			return badFile("damaged: the zip64 end record's size is wrong")
		}
		if le.Uint32(data[loc+4:]) != 0 || le.Uint32(data[loc+16:]) != 1 || le.Uint32(data[rec+16:]) != 0 || le.Uint32(data[rec+20:]) != 0 ||
			le.Uint64(data[rec+24:]) != n || le.Uint64(data[rec+32:]) != n {
			return badFile("damaged: the zip64 end record gives other disks or entry counts than its directory holds")
		}
		dirSize, dirOffset, dirEnd = int64(le.Uint64(data[rec+40:])), int64(le.Uint64(data[rec+48:])), rec
	}
	if dirOffset != pos || dirOffset+dirSize != dirEnd {
		return badFile("damaged: %d bytes between the last entry and the end of the zip's directory are unaccounted for", dirEnd-pos-dirSize)
	}
	return checkDirectory(data[dirOffset:dirEnd], files)
}

// checkDirectory walks the central directory's records, which Go's reader
// has parsed, for what it does not check and libtorch's reader refuses:
// each record names its entry in order, starts on disk 0, and the records
// fill the directory exactly.
func checkDirectory(dir []byte, files []*zip.File) error {
	le := bin.LittleEndian
	p := 0
	for _, f := range files {
		if p+46 > len(dir) || le.Uint32(dir[p:]) != sigDirEntry {
			return badFile("damaged: the zip's directory does not hold a record for each entry")
		}
		nameLen, extraLen, commentLen := int(le.Uint16(dir[p+28:])), int(le.Uint16(dir[p+30:])), int(le.Uint16(dir[p+32:]))
		if p+46+nameLen > len(dir) || string(dir[p+46:p+46+nameLen]) != f.Name {
			return badFile("damaged: the zip's directory does not hold a record for each entry")
		}
		if le.Uint16(dir[p+34:]) != 0 {
			return badFile("entry %s: on disk %d of a one-disk file: the file is corrupt", f.Name, le.Uint16(dir[p+34:]))
		}
		p += 46 + nameLen + extraLen + commentLen
	}
	if p != len(dir) {
		return badFile("damaged: %d bytes of the zip's directory belong to no entry", len(dir)-p)
	}
	return nil
}

// descriptorLen checks the data descriptor that follows an entry written in
// streaming mode and returns its length: CRC-32 and sizes, 32- or 64-bit,
// with or without its optional signature.
func descriptorLen(data []byte, pos int64, f *zip.File) (int64, error) {
	le := bin.LittleEndian
	size := int64(len(data))
	p := pos
	if p+4 <= size && le.Uint32(data[p:]) == sigDescriptor {
		p += 4
	}
	if p+12 > size || le.Uint32(data[p:]) != f.CRC32 {
		return 0, badFile("entry %s: its data descriptor does not match the directory: the file is corrupt", f.Name)
	}
	// 32-bit sizes unless they do not fit; zip64 writers use 64-bit ones.
	if p+12 <= size && uint64(le.Uint32(data[p+4:])) == f.CompressedSize64 && uint64(le.Uint32(data[p+8:])) == f.UncompressedSize64 {
		return p + 12 - pos, nil
	}
	if p+20 <= size && le.Uint64(data[p+4:]) == f.CompressedSize64 && le.Uint64(data[p+12:]) == f.UncompressedSize64 {
		return p + 20 - pos, nil
	}
	return 0, badFile("entry %s: its data descriptor does not match the directory: the file is corrupt", f.Name)
}
