"""What the Redis backends (one server, cluster) share: the newer-wins write script and
how their keys are named and scanned.

Both store one Redis string per (view version, entity) holding the codec's value
(:mod:`parity.online.value_codec`), whose 19-byte header makes a byte comparison the
``(event, created, payload)`` order. :data:`WRITE_LATEST` applies the write rule of
:mod:`parity.online.base` to a chunk of keys atomically; on a cluster every key of a
chunk must share a hash slot.

Example:
    >>> scan_pattern(b"parity:p:v:v1:")
    b'parity:p:v:v1:*'
    >>> client_name("parity-online-my prefix")
    'parity-online-my_prefix'
"""

from __future__ import annotations

import re

# KEYS[i] gets ARGV[i] if ARGV[i] is bytewise greater than the stored value (absent: yes).
# Lua's '<' on strings uses strcoll (locale dependent), hence the explicit byte loop. One
# MGET and one MSET per chunk instead of a GET and a SET per key: 2 redis.call, not 2n.
WRITE_LATEST = """
local olds = redis.call('MGET', unpack(KEYS))
local sets = {}
local written = 0
for i = 1, #KEYS do
  local new, old = ARGV[i], olds[i]
  local greater = false
  if not old then
    greater = true
  elseif old ~= new then
    local ln, lo = #new, #old
    local m = ln < lo and ln or lo
    local j = 1
    while j <= m and string.byte(new, j) == string.byte(old, j) do j = j + 1 end
    if j <= m then greater = string.byte(new, j) > string.byte(old, j) else greater = ln > lo end
  end
  if greater then
    written = written + 1
    sets[2 * written - 1] = KEYS[i]
    sets[2 * written] = new
  end
end
if written > 0 then redis.call('MSET', unpack(sets)) end
return written
"""

# SCAN walks the whole keyspace, whatever the pattern; large steps keep round trips few
# while each step stays a short pause for the server.
SCAN_STEP = 10_000

# Compare-and-set (OnlineStore.swap): KEYS[i] holding exactly ARGV[2i-1] gets ARGV[2i], or
# is deleted when that is empty (a stored value is never empty: it starts with a header).
SWAP = """
local changed = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2 * i - 1] then
    if ARGV[2 * i] == '' then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], ARGV[2 * i])
    end
    changed = changed + 1
  end
end
return changed
"""

_NOT_NAME = re.compile(r"[^!-~]")  # CLIENT SETNAME refuses spaces and non-ASCII


def scan_pattern(namespace: bytes) -> bytes:
    """A SCAN pattern matching every key that starts with ``namespace`` (glob escaped).

    Example:
        >>> scan_pattern(b"a*b:")
        b'a\\\\*b:*'
    """
    return re.sub(rb"([*?\[\]\\])", rb"\\\1", namespace) + b"*"


def client_name(name: str) -> str:
    """``name`` as ``CLIENT SETNAME`` accepts it (spaces and non-ASCII replaced).

    Example:
        >>> client_name("parity-online-ü")
        'parity-online-_'
    """
    return _NOT_NAME.sub("_", name)
