--[[
  The timeouts hash holds, for each processing list, the unix time of its
  consumer's last get or heartbeat: the lease that recovery reads. This is the
  one place that decides a stale lease (aiopyrq._snapshot.QueueSnapshot.stale
  restates it for the command line's dry runs; tests/integration/test_rules.py
  holds the two together).
]]

-- Is the processing list's lease older than max_age seconds at now (max_age < 0: always)?
local function lease_expired(timeouts, processing, max_age, now)
  if max_age < 0 then
    return true
  end
  local stamp = rcall('HGET', timeouts, processing)
  return stamp ~= false and math.floor(tonumber(stamp)) + max_age < now
end
