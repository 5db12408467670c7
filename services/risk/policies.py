"""Policies with the floating rate, minimal claims, and the prevention-fund ledger."""
from __future__ import annotations

from sqlalchemy import func, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from shared.db import transactional
from shared.entrypoints import rpc
from shared.errors import Conflict, Forbidden, NotFound, RuleViolation
from shared.schemas import load, paginate, schema_instance
from shared.workdays import utcnow

from . import domain, roles, schemas
from .models import Claim, Enterprise, FundAccount, FundEntry, Insurer, Policy



class PoliciesMixin:
    # ---- policies ----------------------------------------------------------------------------

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def issue_policy(self, payload):
        data = load(schemas.PolicyIn, payload)
        enterprise = self._ref(Enterprise, data["enterprise_id"], "enterprise_id", "enterprise")
        insurer = self._insurer(data["insurer_id"])
        if not self._own_insurer(insurer.id):
            raise Forbidden("an insurer issues its own policies", {"insurer_id": ["not this token's insurer"]})
        policy = self._issue(enterprise, insurer, data, self._previous_claims([enterprise.id], data["year"]))
        self.db.audit(self.caller, "policy.issue", "policy", policy.id, {"year": policy.year})
        return schema_instance(schemas.PolicyOut).dump(policy)

    def _previous_claims(self, enterprise_ids: list[int], year: int) -> dict[int, tuple[int, int]]:
        """enterprise id -> (previous year's policy id, its claim count), for those insured last year."""
        rows = self.db.session.execute(
            select(Policy.enterprise_id, Policy.id, func.count(Claim.id))
            .outerjoin(Claim, Claim.policy_id == Policy.id)
            .where(Policy.agency_id == self.db.agency, Policy.year == year - 1,
                   Policy.enterprise_id.in_(enterprise_ids) if len(enterprise_ids) < 500 else true())
            .group_by(Policy.enterprise_id, Policy.id)).all()
        return {eid: (pid, n) for eid, pid, n in rows}

    def _issue(self, enterprise, insurer, data, previous: dict, emit: bool = True) -> Policy:
        """One policy year; ``emit=False`` (bulk import) leaves the fund and the events to the caller."""
        exists = emit and self.db.session.scalar(select(Policy.id).where(
            Policy.enterprise_id == enterprise.id, Policy.year == data["year"]))
        if exists:
            raise Conflict(f"enterprise {enterprise.id} is insured for {data['year']} (policy {exists})",
                           {"year": ["one policy per enterprise per year"]})
        prev = previous.get(enterprise.id)
        rate = domain.rate_for(enterprise.industry, prev[1] if prev else None)
        sum_insured = data.get("sum_insured_fen") or domain.programme()["sum_insured_per_worker_fen"]
        policy = Policy(agency_id=self.db.agency, enterprise_id=enterprise.id, insurer_id=insurer.id,
                        year=data["year"], period_start=data["period_start"], period_end=data["period_end"],
                        insured_workers=data["insured_workers"], sum_insured_fen=sum_insured, rate_bp=rate.rate_bp,
                        floating=rate.floating, rate_reason=rate.reason,
                        premium_fen=domain.premium_fen(data["insured_workers"], sum_insured, rate.rate_bp),
                        previous_policy_id=prev[0] if prev else None, created_at=utcnow())
        self.db.session.add(policy)
        if emit:
            self.db.session.flush()
            self._credit_fund(policy, enterprise.district)
            self.db.emit("policy_issued", policy.id, self._issued_event(policy, enterprise))
        return policy

    @staticmethod
    def _issued_event(policy, enterprise) -> dict:
        return dict(policy_id=policy.id, enterprise_id=enterprise.id, credit_code=enterprise.credit_code,
                    insurer_id=policy.insurer_id, year=policy.year, premium_fen=policy.premium_fen,
                    rate_bp=policy.rate_bp, floating=policy.floating, rate_reason=policy.rate_reason)

    @rpc(roles=roles.READERS)
    def get_policy(self, policy_id):
        return schema_instance(schemas.PolicyOut).dump(self._policy(policy_id))

    @rpc(roles=roles.READERS)
    def list_policies(self, query=None):
        params = load(schemas.PolicyQuery, query)
        stmt = select(Policy).join(Enterprise, Enterprise.id == Policy.enterprise_id).where(
            Policy.agency_id == self.db.agency, self._enterprise_filter())
        for key in ("enterprise_id", "insurer_id", "year"):
            if key in params:
                stmt = stmt.where(getattr(Policy, key) == params[key])
        return paginate(self.db.session, stmt, Policy.id, params, schemas.PolicyOut().dump)

    def _policy(self, policy_id, field="policy_id") -> Policy:
        policy = self._row(Policy, policy_id, field, "policy")
        self._enterprise(policy.enterprise_id)  # visibility follows the enterprise
        return policy

    # ---- claims ------------------------------------------------------------------------------

    @rpc(roles=roles.CLAIMANTS)
    @transactional
    def report_claim(self, payload):
        data = load(schemas.ClaimIn, payload)
        try:
            policy = self._policy(data["policy_id"])
        except NotFound:
            raise NotFound("policy not found", {"policy_id": ["not found"]}) from None
        now = utcnow()
        claim = Claim(agency_id=self.db.agency, policy_id=policy.id, status=domain.REPORTED,
                      accident_date=data["accident_date"], description=data["description"],
                      casualties=data["casualties"], advance_paid_fen=0, reported_at=now, updated_at=now)
        self.db.session.add(claim)
        self.db.session.flush()
        self._claim_event(claim, "reported", None)
        return schema_instance(schemas.ClaimOut).dump(claim)

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def survey_claim(self, claim_id, payload):
        data = load(schemas.SurveyIn, payload)
        claim = self._claim(claim_id)
        claim.status = domain.next_claim_status(claim.status, "survey")
        claim.survey_notes, claim.updated_at = data["notes"], utcnow()
        self._claim_event(claim, "surveyed", None)
        return schema_instance(schemas.ClaimOut).dump(claim)

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def advance_claim(self, claim_id, payload):
        data = load(schemas.AmountIn, payload)
        claim = self._claim(claim_id)
        claim.status = domain.next_claim_status(claim.status, "advance")
        claim.advance_paid_fen += data["amount_fen"]
        claim.updated_at = utcnow()
        self._claim_event(claim, "advanced", data["amount_fen"])
        return schema_instance(schemas.ClaimOut).dump(claim)

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def settle_claim(self, claim_id, payload):
        data = load(schemas.AmountIn, payload)
        claim = self._claim(claim_id)
        if data["amount_fen"] < claim.advance_paid_fen:
            raise RuleViolation("the settlement cannot be below what was advanced",
                                {"amount_fen": [f"advanced {claim.advance_paid_fen} fen"]}, rule="settle_below_advance")
        claim.status = domain.next_claim_status(claim.status, "settle")
        claim.settled_fen, claim.updated_at = data["amount_fen"], utcnow()
        self._claim_event(claim, "settled", data["amount_fen"])
        return schema_instance(schemas.ClaimOut).dump(claim)

    def _claim(self, claim_id) -> Claim:
        claim = self._row(Claim, claim_id, "claim_id", "claim")
        policy = self._policy(claim.policy_id)
        if not self._own_insurer(policy.insurer_id):
            raise NotFound(f"claim {claim.id} not found")
        return claim

    def _claim_event(self, claim, action, amount):
        self.db.emit("claim_changed", claim.id, dict(claim_id=claim.id, policy_id=claim.policy_id,
                                                     status=claim.status, action=action, amount_fen=amount))
        self.db.audit(self.caller, f"claim.{action}", "claim", claim.id, {"amount_fen": amount})

    # ---- prevention fund ---------------------------------------------------------------------

    def _account(self, insurer_id: int, year: int) -> FundAccount:
        account = self.db.session.scalar(select(FundAccount).where(
            FundAccount.insurer_id == insurer_id, FundAccount.year == year))
        if account is None:
            account = FundAccount(agency_id=self.db.agency, insurer_id=insurer_id, year=year,
                                  credited_fen=0, debited_fen=0, balance_fen=0)
            self.db.session.add(account)
            self.db.session.flush()
        return account

    def _credit_fund(self, policy: Policy, district: str):
        amount = domain.fund_credit_fen(policy.premium_fen)
        if amount > 0:
            self._post(policy.insurer_id, policy.year, "credit", amount, f"policy:{policy.id}",
                       f"保单{policy.id}保费提取预防费用", district)

    def _credit_many(self, policies: list[tuple[Policy, str]]):
        """A bulk import's fund credits: one balance update per account, entries with their running balance."""
        by_account: dict = {}
        for policy, district in policies:
            amount = domain.fund_credit_fen(policy.premium_fen)
            if amount > 0:
                by_account.setdefault((policy.insurer_id, policy.year), []).append((policy, district, amount))
        now = utcnow()
        for (insurer_id, year), items in by_account.items():
            account = self._account(insurer_id, year)
            total = sum(a for _, _, a in items)
            balance = self.db.session.execute(
                update(FundAccount).where(FundAccount.id == account.id)
                .values({FundAccount.balance_fen: FundAccount.balance_fen + total,
                         FundAccount.credited_fen: FundAccount.credited_fen + total})
                .returning(FundAccount.balance_fen)).scalar_one()
            running = balance - total
            rows = []
            for policy, district, amount in items:
                running += amount
                rows.append(dict(account_id=account.id, kind="credit", amount_fen=amount, balance_after_fen=running,
                                 district=district, reference=f"policy:{policy.id}",
                                 memo=f"保单{policy.id}保费提取预防费用", posted_at=now))
            self.db.session.execute(insert(FundEntry), rows)
            self.db.session.expire(account)
            self.db.emit("fund_posted", account.id, dict(insurer_id=insurer_id, year=year, kind="credit",
                                                         amount_fen=total, balance_fen=balance,
                                                         reference=f"import:{len(items)} policies"))

    def _post(self, insurer_id: int, year: int, kind: str, amount: int, reference: str, memo: str,
              district: str | None) -> FundEntry:
        """Move the running balance and write the entry in one transaction.

        The balance is changed by an UPDATE relative to the stored value, so the
        database evaluates the CHECK against what is really there: a debit that
        would overdraw fails in the database, whatever any caller checked before.
        """
        account = self._account(insurer_id, year)
        done = self.db.session.scalar(select(FundEntry).where(FundEntry.account_id == account.id,
                                                              FundEntry.reference == reference))
        if done is not None:
            return done  # posting the same reference twice changes nothing
        domain.fund_balance_after(0, kind, amount)  # amount must be positive
        sign = 1 if kind == "credit" else -1
        column = FundAccount.credited_fen if kind == "credit" else FundAccount.debited_fen
        try:
            with self.db.session.begin_nested():
                balance = self.db.session.execute(
                    update(FundAccount).where(FundAccount.id == account.id)
                    .values({FundAccount.balance_fen: FundAccount.balance_fen + sign * amount,
                             column: column + amount})
                    .returning(FundAccount.balance_fen)).scalar_one()
        except IntegrityError:
            raise RuleViolation(
                f"the prevention fund of insurer {insurer_id} for {year} holds less than {amount} fen",
                {"amount_fen": [f"exceeds the balance of {account.balance_fen} fen"]}, rule="fund_overspent") from None
        self.db.session.expire(account)
        entry = FundEntry(account_id=account.id, kind=kind, amount_fen=amount, balance_after_fen=balance,
                          district=district, reference=reference, memo=memo, posted_at=utcnow())
        self.db.session.add(entry)
        self.db.session.flush()
        self.db.emit("fund_posted", account.id, dict(insurer_id=insurer_id, year=year, kind=kind, amount_fen=amount,
                                                     balance_fen=balance, reference=reference))
        return entry

    @rpc(roles=roles.UNDERWRITERS)
    @transactional
    def debit_fund(self, payload):
        data = load(schemas.FundDebitIn, payload)
        insurer = self._insurer(data["insurer_id"])
        if not self._own_insurer(insurer.id):
            raise Forbidden("an insurer spends its own fund", {"insurer_id": ["not this token's insurer"]})
        entry = self._post(insurer.id, data["year"], "debit", data["amount_fen"], data["reference"], data["memo"],
                           data["district"])
        self.db.audit(self.caller, "fund.debit", "fund_entry", entry.id, {"amount_fen": entry.amount_fen})
        return schema_instance(schemas.FundEntryOut).dump(entry)

    @rpc(roles=roles.FUND_READERS)
    def fund_statement(self, insurer_id, query=None):
        params = load(schemas.FundQuery, query)
        insurer = self._row(Insurer, insurer_id, "insurer_id", "insurer")
        if not self._own_insurer(insurer.id):
            raise NotFound(f"insurer {insurer.id} not found")
        account = self.db.session.scalar(select(FundAccount).where(
            FundAccount.insurer_id == insurer.id, FundAccount.year == params["year"]))
        entries = [] if account is None else self.db.session.scalars(
            select(FundEntry).where(FundEntry.account_id == account.id).order_by(FundEntry.id)).all()
        if self.caller.role == "regulator":  # a district sees its own part of the ledger
            entries = [e for e in entries if e.district == self.caller.district]
        districts: dict = {}
        for e in entries:
            row = districts.setdefault(e.district, {"district": e.district, "credited_fen": 0, "debited_fen": 0})
            row["credited_fen" if e.kind == "credit" else "debited_fen"] += e.amount_fen
        return schema_instance(schemas.FundOut).dump({
            "insurer_id": insurer.id, "year": params["year"],
            "credited_fen": account.credited_fen if account else 0, "debited_fen": account.debited_fen if account else 0,
            "balance_fen": account.balance_fen if account else 0,
            "districts": sorted(districts.values(), key=lambda r: r["district"] or ""), "entries": entries})
