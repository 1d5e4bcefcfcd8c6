"""Strategy reports for collections managers (issue 17): which segments,
local hours, weekdays and dial modes reach debtors, get promises and
collect money, with counts and confidence intervals. Pure statistics and
cells (stats, strategy), the SQL (store), the chart (chart), the CLI
(commands) and the API (http)."""
