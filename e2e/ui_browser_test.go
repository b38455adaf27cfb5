package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/cases"
)

// uiScreenshotsVar names the folder the browser test writes its screenshots
// to (relative to the repository's root); a temporary folder if unset.
// `EXAMFLOW_UI_SCREENSHOTS=docs/images go test -run TestTemporalUIInABrowser
// ./e2e/` refreshes the ones docs/temporal-ui.md shows.
const uiScreenshotsVar = "EXAMFLOW_UI_SCREENSHOTS"

// TestTemporalUIInABrowser drives the Temporal UI of the test stack in
// headless Chromium as a case handler would. It lists Stage="UnderReview"
// (from the URL and by typing a filter), opens a registration whose result
// is held for review, and reads the page: the payloads are decoded by the
// API's codec server, and nowhere in the list, the workflow page or its
// tabs is any of the candidate's personal data. Then it sends the
// review-decision Update from the UI (on the dev stack, whose UI keeps its
// write actions): the UI reports an error and nothing changes. On the
// cluster stack the UI server has its write actions turned off, and the
// page offers no control to send an Update or Signal or to cancel,
// terminate or reset the workflow.
func TestTemporalUIInABrowser(t *testing.T) {
	b := newBrowser(t)
	c := newHeldCase(t)
	ui := env.stack.TemporalUIURL()
	pages := map[string]string{} // what each page showed, for assertCaseExplained

	// The list, from a query in the URL.
	b.navigate(ui + "/namespaces/default/workflows?query=" + url.QueryEscape(`Stage="UnderReview"`))
	b.waitFor(`a[href*="` + c.wfID + `"]`)
	b.settle()
	b.screenshot("temporal-ui-list")
	pages["list"] = b.check(c, "the list of Stage=\"UnderReview\"")

	// The same list narrowed by typing a filter into the search bar.
	b.addFilter("TestCentre", c.centre)
	b.waitForText(c.wfID)
	if n := b.workflowsListed(); n != 1 {
		t.Errorf("the list filtered by TestCentre=%q shows %d registrations, want 1", c.centre, n)
	}
	if loc := b.location(); !strings.Contains(loc, "TestCentre") || !strings.Contains(loc, "UnderReview") {
		t.Errorf("the filter typed into the search bar is not in the query: %s", loc)
	}
	pages["filtered list"] = b.check(c, "the filtered list")

	// The workflow, opened from the list.
	b.click(`a[href*="` + c.wfID + `"]`)
	b.waitForText(`"registration_id"`)
	b.settle()
	text := b.pageText()
	if !strings.Contains(text, c.regID) {
		t.Errorf("the workflow page does not show the decoded input with the registration's ID %s", c.regID)
	}
	if strings.Contains(text, "binary/encrypted") {
		t.Error("the workflow page shows encrypted payloads: the codec server did not decode them")
	}
	b.screenshot("temporal-ui-workflow")
	pages["workflow"] = b.check(c, "the workflow page")
	base := strings.TrimSuffix(b.location(), "/history")

	// Its event history with every event's details open (the decoded
	// inputs and results of its activities and Updates), and its other tabs.
	b.clickText("button", "All")
	b.settle()
	if n := b.expandEvents(); n == 0 {
		t.Error("the event history lists no events")
	}
	b.settle()
	pages["history"] = b.check(c, "the expanded event history")
	if !strings.Contains(pages["history"], `"review_id"`) {
		t.Error("the expanded event history does not show OpenReview's decoded result")
	}
	for _, tab := range []string{"relationships", "workers", "pending-activities", "call-stack", "user-metadata", "search-attributes", "memo"} {
		b.navigate(base + "/" + tab)
		if tab == "user-metadata" {
			// The current details come from a query to the worker.
			b.waitForText("Held for review")
			b.screenshot("temporal-ui-details")
		}
		b.settle()
		pages[tab] = b.check(c, "the tab "+tab)
	}
	b.navigate(base + "/query")
	b.clickText("button", "Run Query")
	b.waitForText(`"review_due"`)
	b.settle()
	b.screenshot("temporal-ui-query")
	pages["query"] = b.check(c, "the status query's answer")

	if clusterMode() {
		// The cluster's UI server runs with disableWriteActions.
		b.navigate(base + "/history")
		b.waitForText(`"registration_id"`)
		b.settle()
		if offered := b.writeControls(); len(offered) > 0 {
			t.Errorf("the UI with write actions off still offers %v", offered)
		}
		b.screenshot("temporal-ui-read-only")
		assertCaseExplained(t, pages, c)
		return
	}

	// The review-decision Update, sent from the UI.
	events, changes := historyCounts(t, c.wfID), changesAudited(t, c.regID)
	b.navigate(base + "/history")
	b.waitForText(`"registration_id"`)
	b.settle()
	if offered := b.writeControls(); len(offered) == 0 {
		t.Error("the dev server's UI offers no write actions: writeControls finds none where they are, so it cannot show their absence on the cluster")
	} else {
		t.Logf("the dev server's UI offers %v", offered)
	}
	b.click(`button[aria-controls="workflow-actions"]`)
	b.click(`[data-testid="update-button"]`)
	b.click(`[data-testid="update-select-button"]`)
	b.waitForText(cases.UpdateReviewDecision)
	pages["update picker"] = b.check(c, "the Update picker")
	b.clickText(`#update-select-select [role="option"]`, cases.UpdateReviewDecision)
	b.typeInto(`#update-confirmation-modal [contenteditable="true"]`,
		`{"part":"test","decision":"correct","corrected_score":30,"reason":"sent from the Temporal UI","decided_by":"ch-1"}`)
	b.click(`#update-confirmation-modal [data-testid="confirm-modal-button"]`)
	// The UI asks the codec server to seal the input first; /codec/encode
	// refuses, so the UI shows why in the form and sends nothing.
	if refusal, open := b.formOutcome("#update-confirmation-modal"); !open {
		t.Error("the Update form closed without an error: the UI sent the Update")
	} else if !strings.Contains(refusal, "encoding failed") {
		t.Errorf("the UI says %q, want it to say the encoding failed", refusal)
	}
	b.screenshot("temporal-ui-update-refused")
	pages["update"] = b.check(c, "the refused Update")

	after := historyCounts(t, c.wfID)
	for _, typ := range []string{enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED.String(), enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED.String(),
		enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED.String(), "activity DecideReview"} {
		if after[typ] != events[typ] {
			t.Errorf("%s events: %d before the UI's Update, %d after", typ, events[typ], after[typ])
		}
	}
	if g := do(t, http.MethodGet, c.url, "", nil, nil); g.Body["stage"] != "UnderReview" {
		t.Errorf("stage %v after the UI's Update, want UnderReview", g.Body["stage"])
	}
	if res := currentResults(t, c.url)["test"]; res["score"] != float64(20) {
		t.Errorf("the held result changed after the UI's Update: %v", res)
	}
	if n := changesAudited(t, c.regID); n != changes {
		t.Errorf("audited changes: %d before the UI's Update, %d after", changes, n)
	}
	assertCaseExplained(t, pages, c)
}

// assertCaseExplained checks that the pages explain the held case to a case
// handler: the workflow's current details say why the result is held, by
// when it must be decided, who decides and how (the role and the API's
// route); OpenReview's activity has a summary the history shows; and the
// review-decision Update has a description the Update picker shows. It
// compares what the workflow reports (its metadata query and history,
// through the SDK) with what the pages show.
func assertCaseExplained(t *testing.T, pages map[string]string, c heldCase) {
	t.Helper()
	ctx := context.Background()
	v, err := env.temporal.QueryWorkflow(ctx, c.wfID, "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatalf("metadata query: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatalf("metadata query: %v", err)
	}
	workflowPage := strings.ToLower(pages["workflow"] + pages["user-metadata"])
	due := c.reviewDue(t)
	for _, want := range []string{"held for review because a technical problem was reported", due, "case_handler",
		"POST /v1/registrations/{id}/review-decisions", c.regID} {
		if !strings.Contains(strings.ToLower(md.GetCurrentDetails()), strings.ToLower(want)) {
			t.Errorf("the current details do not say %q:\n%s", want, md.GetCurrentDetails())
		}
	}
	for _, want := range []string{"held for review because a technical problem was reported", due, "case_handler", "review-decisions"} {
		if !strings.Contains(workflowPage, strings.ToLower(want)) {
			t.Errorf("the workflow page does not show %q of the current details", want)
		}
	}

	summary := activitySummary(t, c.wfID, "OpenReview")
	if summary == "" {
		t.Error("OpenReview's activity has no summary")
	} else if !strings.Contains(pages["history"], summary) {
		t.Errorf("the event history does not show OpenReview's summary %q", summary)
	}

	var description string
	for _, u := range md.GetDefinition().GetUpdateDefinitions() {
		if u.GetName() == cases.UpdateReviewDecision {
			description = u.GetDescription()
		}
	}
	if description == "" {
		t.Errorf("the %s Update has no description", cases.UpdateReviewDecision)
	} else if !clusterMode() && !strings.Contains(pages["update picker"], description) {
		t.Errorf("the Update picker does not show the description %q", description)
	}
}

// activitySummary is the summary (user metadata) of the first activity of
// the given type in the workflow's history, decoded as the codec server
// decodes it for the UI.
func activitySummary(t *testing.T, wfID, activity string) string {
	t.Helper()
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), env.process.Codec.DisplayCodec())
	iter := env.temporal.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activity {
			p := ev.GetUserMetadata().GetSummary()
			if p == nil {
				return ""
			}
			var s string
			if err := dc.FromPayload(p, &s); err != nil {
				t.Fatalf("decode %s's summary: %v", activity, err)
			}
			return s
		}
	}
	t.Fatalf("no %s activity in %s's history", activity, wfID)
	return ""
}

// heldCase is a registration whose result is held for review, with the
// personal data it was registered with.
type heldCase struct {
	person                          person
	candidateNumber                 string
	url, regID, wfID, centre, phone string
	street                          string
}

// newHeldCase registers a fictional candidate, reports a technical problem
// and submits the answer sheet, so that the result is held for a case
// handler.
func newHeldCase(t *testing.T) heldCase {
	t.Helper()
	p := newPerson(t)
	centre := uniqueCentre()
	body := p.reg(t, "citizenship", centre, session)
	reg := postRegistration(t, body, "")
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	person := body["person"].(map[string]any)
	c := heldCase{person: p, candidateNumber: reg.Body["candidate_number"].(string), url: registrationURL(reg),
		regID: reg.Body["registration_id"].(string), wfID: reg.Body["workflow_id"].(string), centre: centre,
		phone: person["phone"].(string), street: person["address"].(map[string]any)["street"].(string)}
	holdForReview(t, c.url, centre, 20)
	return c
}

// personalData is what must not appear on any page of the UI: the
// candidate's name, date of birth, identity number, e-mail, phone,
// address and candidate number.
func (c heldCase) personalData() map[string]string {
	return map[string]string{
		"given name": c.person.Given, "family name": c.person.Family, "date of birth": c.person.Born,
		"national identity number": c.person.NationalID, "e-mail": c.person.Email, "phone": c.phone,
		"street address": c.street, "candidate number": c.candidateNumber,
	}
}

// reviewDue is the held part's review deadline as the API reports it
// (YYYY-MM-DD).
func (c heldCase) reviewDue(t *testing.T) string {
	t.Helper()
	g := do(t, http.MethodGet, c.url, "", nil, nil)
	parts, _ := g.Body["parts"].([]any)
	for _, p := range parts {
		if due, ok := p.(map[string]any)["review_due"].(string); ok && len(due) >= 10 {
			return due[:10]
		}
	}
	t.Fatalf("no review_due in %s", g.Raw)
	return ""
}

// browser is a headless Chromium tab.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

// chromiumPath finds Debian's Chromium (deploy/ensure-chromium.sh installs
// it).
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found on PATH: install Debian's chromium package (make test runs deploy/ensure-chromium.sh)")
}

// newBrowser starts headless Chromium for the test, or skips the test when
// it is not installed (fails it under make, EXAMFLOW_E2E_REQUIRE).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := chromiumPath()
	if err != nil {
		if os.Getenv("EXAMFLOW_E2E_REQUIRE") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1440, 900))
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root (CI containers).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	shots := os.Getenv(uiScreenshotsVar)
	switch {
	case shots == "":
		shots = t.TempDir()
	case !filepath.IsAbs(shots):
		shots = filepath.Join("..", shots)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, shots: shots}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (page: %s)", what, err, b.location())
	}
}

func (b *browser) navigate(u string) { b.t.Helper(); b.do("open "+u, chromedp.Navigate(u)) }

func (b *browser) location() string {
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	return loc
}

// eval runs JavaScript in the page.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// shownText is JavaScript for the text the page shows, with that of its
// frames: the UI renders Markdown (the current details) in a same-origin
// iframe of its own.
const shownText = `[document, ...[...document.querySelectorAll("iframe")].map(f => f.contentDocument).filter(d => d && d.body)]
	.map(d => d.body.innerText).join("\n")`

// pageText is the text the page shows; pageHTML is its whole document
// with its frames'.
func (b *browser) pageText() string { b.t.Helper(); return eval[string](b, shownText) }
func (b *browser) pageHTML() string {
	b.t.Helper()
	return eval[string](b, `[document, ...[...document.querySelectorAll("iframe")].map(f => f.contentDocument).filter(d => d)]
		.map(d => d.documentElement.outerHTML).join("\n")`)
}

// waitUntil polls cond (JavaScript) until it is true.
func (b *browser) waitUntil(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](b, `!!(`+cond+`)`) {
		if time.Now().After(deadline) {
			b.t.Fatalf("waited 30s for %s on %s (%s); the page shows:\n%s", what, b.location(), b.failed(), b.pageText())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitForText waits until the page shows text.
func (b *browser) waitForText(text string) {
	b.t.Helper()
	b.waitUntil(fmt.Sprintf("the text %q", text), fmt.Sprintf(`(%s).includes(%q)`, shownText, text))
}

// waitFor waits until an element matches the CSS selector.
func (b *browser) waitFor(sel string) {
	b.t.Helper()
	b.waitUntil(sel, fmt.Sprintf(`document.querySelector(%q)`, sel))
}

// settle waits until the page's text has not changed for a second (the UI
// loads its data after the page).
func (b *browser) settle() {
	b.t.Helper()
	last, since := "", time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if text := b.pageText(); text != last {
			last, since = text, time.Now()
		} else if time.Since(since) >= time.Second {
			return
		}
	}
}

// click clicks the first visible element matching the CSS selector, once
// it is there.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.clickWhere(sel, sel, "true")
}

// clickText clicks the visible element matching the CSS selector whose text
// is text.
func (b *browser) clickText(sel, text string) {
	b.t.Helper()
	// A menu item with a description (the Update picker's) names itself
	// in its wrapper, above the description.
	b.clickWhere(fmt.Sprintf("%s %q", sel, text), sel, fmt.Sprintf(`(e.querySelector(".menu-item-wrapper") ?? e).innerText.trim() === %q`, text))
}

// clickWhere waits for a visible element matching the CSS selector for
// which cond (JavaScript on e) holds, and clicks it as the page's own
// scripts would see a user's click.
func (b *browser) clickWhere(what, sel, cond string) {
	b.t.Helper()
	find := fmt.Sprintf(`[...document.querySelectorAll(%q)].find(e => e.checkVisibility({visibilityProperty: true}) && (%s))`, sel, cond)
	b.waitUntil(what, find)
	eval[chromedp.Void](b, `(`+find+`).click()`)
}

// expandEvents opens every event's details in the event history's "All"
// view, and returns how many events it opened.
func (b *browser) expandEvents() int {
	b.t.Helper()
	return eval[int](b, `(() => {
		const rows = [...document.querySelectorAll('[data-testid="event-summary-row"]')];
		rows.forEach(r => r.click());
		return rows.length;
	})()`)
}

// workflowsListed is how many registrations' workflows the list links to.
func (b *browser) workflowsListed() int {
	b.t.Helper()
	return eval[int](b, `new Set([...document.querySelectorAll('a[href*="/workflows/registration-"]')]
		.map(a => a.getAttribute("href").split("/workflows/")[1].split("/")[0])).size`)
}

// typeInto focuses an editable element and inserts text as typed input.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.waitUntil(sel+" to take the focus", fmt.Sprintf(`(e => e && (e.focus(), document.activeElement === e))(
		[...document.querySelectorAll(%q)].find(e => e.checkVisibility({visibilityProperty: true})))`, sel))
	if _, err := chromedp.Call(b.ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		b.t.Fatalf("type into %s: %v", sel, err)
	}
}

// addFilter adds attribute=value to the list's query with the search bar's
// "Add Filter", as a user types it.
func (b *browser) addFilter(attribute, value string) {
	b.t.Helper()
	b.clickText("button", "Add Filter")
	b.typeInto(`#filter-search`, attribute)
	b.clickText(`#search-attribute-menu [role="menuitem"] p`, attribute)
	b.typeInto(fmt.Sprintf(`input[id^="dropdown-filter-chip-%s-"][id$="-text"]`, attribute), value)
	b.clickText("button", "Apply")
	b.waitUntil("the filter in the URL", fmt.Sprintf(`decodeURIComponent(location.search).includes(%q)`, value))
}

// formOutcome waits until the visible dialog matching the CSS selector
// shows an error (its role="alert" element has text), returned with open
// true, or closes (open false).
func (b *browser) formOutcome(dialog string) (alert string, open bool) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const d = [...document.querySelectorAll(%q)].find(e => e.checkVisibility({visibilityProperty: true}));
		if (!d) return "<closed>";
		const a = d.querySelector('[role="alert"]');
		return a ? a.innerText.trim() : "";
	})()`, dialog)
	b.waitUntil("an error in "+dialog+" or its closing", js)
	out := eval[string](b, js)
	return out, out != "<closed>"
}

// writeControls lists the write actions the workflow page offers: its
// buttons and menu items to cancel, reset, signal, update, terminate or
// start a workflow, where present and not disabled.
func (b *browser) writeControls() []string {
	b.t.Helper()
	raw := eval[[]byte](b, `JSON.stringify([...document.querySelectorAll(
		'[data-testid="update-button"], [data-testid="signal-button"], [data-testid="terminate-button"], [data-testid="reset-button"], [data-testid="start-workflow-button"], button, [role="menuitem"]')]
		.filter(e => !e.disabled && e.getAttribute("aria-disabled") !== "true")
		.map(e => e.getAttribute("data-testid") || e.innerText.trim())
		.filter(s => /update-button|signal-button|terminate-button|reset-button|start-workflow-button|^Request Cancellation$|^Send an? (Update|Signal)$|^Terminate$|^Reset$/.test(s)))`)
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		b.t.Fatalf("write controls: %v: %s", err, raw)
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		b.t.Fatalf("write controls: %v: %s", err, s)
	}
	return out
}

// screenshot saves the viewport as <name>.png in the screenshot folder (on
// the cluster stack, in a temporary folder but for temporal-ui-read-only).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := b.shots
	if clusterMode() && name != "temporal-ui-read-only" {
		// The cluster stack's pages look like the dev stack's: only the
		// read-only one goes where the dev stack's screenshots go.
		dir = b.t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// failed saves the page as failed.png and failed.html in the screenshot
// folder, and says where.
func (b *browser) failed() string {
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return err.Error()
	}
	path := filepath.Join(b.shots, "failed")
	_ = os.WriteFile(path+".png", png, 0o644)
	_ = os.WriteFile(path+".html", []byte(b.pageHTML()), 0o644)
	return "saved as " + path + ".png and .html"
}

// check fails the test when the page's text or HTML holds any of the
// candidate's personal data, and returns the page's text: what it shows,
// then all of its text, also that of collapsed or hidden parts.
func (b *browser) check(c heldCase, where string) string {
	b.t.Helper()
	text, html := b.pageText()+"\n"+eval[string](b, `document.body.textContent`), b.pageHTML()
	for what, value := range c.personalData() {
		if strings.Contains(text, value) || strings.Contains(html, value) {
			b.t.Errorf("%s shows the candidate's %s", where, what)
		}
	}
	return text
}
