# A docker-save-like outer tar whose layer.tar is stored sparse (GNU pax sparse 1.0).
# The layer holds run/secrets/tok and etc/app.conf.gz (gzip of the stored value).
import tarfile, gzip, sys
V = sys.argv[2].encode()
def hdr(name, size):
    ti = tarfile.TarInfo(name); ti.size = size; ti.mtime = 0
    return ti.tobuf(format=tarfile.USTAR_FORMAT)
def pad(b): return b + b'\0' * (-len(b) % 512)
gz = gzip.compress(b'KEY=' + V + b'\n', mtime=0)
tail = hdr('run/secrets/tok', 0) + hdr('etc/app.conf.gz', len(gz)) + pad(gz)
hole = len(tail)                                   # the hole is as long as what follows it
inner = hdr('a', 512 + hole) + b'junk' * 128 + b'\0' * hole + tail + b'\0' * 2048
chunks = [(0, 1024), (1024 + hole, len(inner) - 1024 - hole)]
m = pad(('%d\n' % len(chunks) + ''.join('%d\n%d\n' % c for c in chunks)).encode())
data = m + b''.join(inner[o:o + n] for o, n in chunks)
ti = tarfile.TarInfo('GNUSparseFile.0/layer.tar'); ti.size = len(data); ti.mtime = 0
ti.pax_headers = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0',
                  'GNU.sparse.name': 'layer.tar', 'GNU.sparse.realsize': str(len(inner))}
open(sys.argv[1], 'wb').write(ti.tobuf(format=tarfile.PAX_FORMAT) + pad(data) + b'\0' * 1024)
