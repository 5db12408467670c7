"""Routes of the scoring service."""
from __future__ import annotations

from services.scoring import roles as rl
from services.scoring import schemas as sc

from . import BULK_TIMEOUT_SCALE, STAFF, Route

S = "scoring"
BASE = "/api/v1/scoring"

ROUTES: list[Route] = [
    Route("PUT", f"{BASE}/schemes/<cycle>", S, "load_scheme",
          "Load a cycle's scoring scheme (stages, weights, points per lecture, cut-offs); "
          "refused while a stage is closed", "scoring", body=sc.SchemeIn, response=sc.SchemeOut, roles=STAFF),
    Route("GET", f"{BASE}/schemes/<cycle>", S, "get_scheme", "A cycle's scoring scheme", "scoring",
          response=sc.SchemeOut, roles=rl.READERS),
    Route("GET", f"{BASE}/cycles/<cycle>/stages/<stage>/ranking", S, "get_ranking",
          "The current ranking of a stage, the unranked with their reason, and the published decisions",
          "scoring", response=sc.RankingOut, roles=rl.READERS),
    Route("GET", f"{BASE}/cycles/<cycle>/stages/<stage>/export", S, "export_ranking",
          "A stage's ranking as CSV (UTF-8 with BOM) or XLSX, Chinese headers", "scoring",
          query=sc.ExportQuery, file=True, roles=rl.READERS),
    Route("GET", f"{BASE}/cycles/<cycle>/stages/<stage>/readiness", S, "stage_readiness",
          "Before closing: the scores the stage needs, how many arrived, who lacks which part, "
          "and whether events it needs are still in flight", "scoring", response=sc.ReadinessOut, roles=STAFF),
    Route("POST", f"{BASE}/cycles/<cycle>/stages/<stage>/close", S, "close_stage",
          "Close a stage: apply the cut-off and publish the decisions (closing again changes nothing); "
          "409 not_ready with the readiness unless every score is in and nothing is in flight, or "
          "confirm_not_ready is true",
          "scoring", body=sc.CloseIn, response=sc.CloseOut, roles=STAFF,
          timeout_scale=BULK_TIMEOUT_SCALE),  # ranks and decides a whole cohort in one call
    Route("POST", f"{BASE}/cycles/<cycle>/stages/<stage>/reopen", S, "reopen_stage",
          "Re-open a closed stage, with a reason", "scoring", body=sc.ReopenIn, response=sc.StageStateOut, roles=STAFF),
    Route("GET", f"{BASE}/cycles/<cycle>/candidates/<candidate_id>", S, "explain",
          "A candidate's scores: every part, weight, contribution and source event, lectures, decisions",
          "scoring", response=sc.ExplainOut, roles=rl.EXPLAIN_READERS),
    Route("GET", f"{BASE}/cycles/<cycle>/flags", S, "list_flags",
          "Scores that arrived after a stage they feed was closed", "scoring", response=sc.FlagOut, many=True,
          roles=rl.READERS),
    Route("POST", f"{BASE}/rebuild", S, "rebuild", "Rebuild the score sheets from the event log", "scoring",
          body=sc.RebuildIn, response=sc.RebuildOut, roles=STAFF),
    Route("GET", f"{BASE}/audit/<entity_type>/<entity_id>", S, "audit_trail",
          "Audit trail of a scoring record (older URL)",
          "scoring", response=sc.AuditOut, many=True, roles=STAFF, deprecated=True),
]
