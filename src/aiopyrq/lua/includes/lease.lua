--[[
  The timeouts hash holds, for each processing list, the unix time of its
  consumer's last get: the lease that recovery reads.
]]
--- @include "includes/now"

-- Is the processing list's last get older than max_age seconds (max_age < 0: always)?
local function lease_expired(timeouts, processing, max_age)
  if max_age < 0 then
    return true
  end
  local stamp = rcall('HGET', timeouts, processing)
  return stamp ~= false and math.floor(tonumber(stamp)) + max_age < now_seconds()
end

-- Drops the lease of a processing list that holds nothing any more.
local function release_if_empty(timeouts, processing)
  if rcall('EXISTS', processing) == 0 then
    rcall('HDEL', timeouts, processing)
  end
end
