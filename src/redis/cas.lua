-- Compare-and-swap of one key, atomic because Redis runs a script alone.
--
-- KEYS[1]  the key
-- ARGV[1]  '1' when a value is expected, '0' when the key must be absent
-- ARGV[2]  the expected JSON text (when ARGV[1] is '1')
-- ARGV[3]  '1' to store ARGV[4], '0' to delete the key
-- ARGV[4]  the new JSON text (when ARGV[3] is '1')
-- ARGV[5]  the new value's TTL in milliseconds, or '' for none
--
-- Returns 1 when it swapped, 0 when the live value differs, -1 when the
-- stored value is not JSON, -2 when the expected value cannot be decoded,
-- -3 when both are nested deeper than cjson decodes (1000 levels) and
-- differ as text (the caller then compares them itself, and calls again
-- with the stored text as the expected one). Redis expires keys itself: an
-- expired key reads as absent.

-- The text made ready for cjson, which gets two things wrong:
-- - It decodes `[]` and `{}` to the same empty table. Giving every array a
--   leading `true` element makes an array a table with the integer key 1
--   and an object a table with string keys only, so tables compare exactly.
-- - It refuses a lone surrogate escape (`"\ud800"`), which JavaScript
--   strings may hold. Each is replaced by the three bytes UTF-8 would give
--   the surrogate (WTF-8): no valid UTF-8 text holds them, so equal strings
--   stay equal and different ones different. Escaped pairs are left alone.
-- Brackets and escapes inside strings are told apart from the rest.
local function surrogate_at(text, i)
  local hex = string.sub(text, i, i + 3)
  if string.find(hex, '^%x%x%x%x$') then
    local unit = tonumber(hex, 16)
    if unit >= 0xD800 and unit <= 0xDFFF then
      return unit
    end
  end
  return nil
end

local function prepare(text)
  local out, n = {}, 0
  local copied, pos = 1, 1
  local in_string = false
  while true do
    local i = string.find(text, in_string and '["\\]' or '["%[]', pos)
    if not i then break end
    local c = string.sub(text, i, i)
    if in_string then
      if c == '\\' then
        local unit = string.sub(text, i + 1, i + 1) == 'u' and surrogate_at(text, i + 2)
        local low = unit and unit < 0xDC00 and string.sub(text, i + 6, i + 7) == '\\u'
          and surrogate_at(text, i + 8)
        if low and low >= 0xDC00 then
          pos = i + 12
        elseif unit then
          out[n + 1] = string.sub(text, copied, i - 1)
          out[n + 2] = string.char(0xE0 + math.floor(unit / 4096),
            0x80 + math.floor(unit / 64) % 64, 0x80 + unit % 64)
          n = n + 2
          copied = i + 6
          pos = i + 6
        else
          pos = i + 2
        end
      else
        in_string = false
        pos = i + 1
      end
    elseif c == '"' then
      in_string = true
      pos = i + 1
    else
      local j = string.find(text, '[^ \t\r\n]', i + 1)
      local empty = j ~= nil and string.sub(text, j, j) == ']'
      out[n + 1] = string.sub(text, copied, i)
      out[n + 2] = empty and 'true' or 'true,'
      n = n + 2
      copied = i + 1
      pos = i + 1
    end
  end
  out[n + 1] = string.sub(text, copied)
  return table.concat(out)
end

-- Deep equality of decoded JSON: members in any order, numbers by value
-- (Lua numbers are doubles, as JavaScript's are), null is cjson.null.
local function same(a, b)
  if type(a) ~= 'table' or type(b) ~= 'table' then
    return a == b
  end
  for k, v in pairs(a) do
    local w = b[k]
    if w == nil or not same(v, w) then
      return false
    end
  end
  for k in pairs(b) do
    if a[k] == nil then
      return false
    end
  end
  return true
end

-- true and the value, or false and whether the text was only too deep.
local function decode(text)
  local ok, value = pcall(cjson.decode, prepare(text))
  if ok then
    return true, value
  end
  return false, string.find(tostring(value), 'too many nested', 1, true) ~= nil
end

local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then
    return 0
  end
elseif not current then
  return 0
elseif current ~= ARGV[2] then
  local ok_expected, expected = decode(ARGV[2])
  if not ok_expected and not expected then
    return -2
  end
  local ok_current, stored = decode(current)
  if not ok_current and not stored then
    return -1
  end
  if not ok_expected or not ok_current then
    -- Equal values nest equally deep: if only one is too deep, they differ.
    if ok_expected or ok_current then
      return 0
    end
    return -3
  end
  if not same(stored, expected) then
    return 0
  end
end

if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
