package cases

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Custom search attributes. They carry status values and opaque codes only,
// never personal data, because Temporal's visibility store cannot encrypt
// them. The dev server allows at most 10 Keyword attributes and 3 of each
// other type; docs/temporal-ui.md lists how case handlers use them.
var (
	// StageKey is the lifecycle stage, e.g. Stage="Registered".
	StageKey = temporal.NewSearchAttributeKeyKeyword("Stage")
	// TestTypeKey is the test type, e.g. TestType="citizenship".
	TestTypeKey = temporal.NewSearchAttributeKeyKeyword("TestType")
	// TestCentreKey is the test centre's code.
	TestCentreKey = temporal.NewSearchAttributeKeyKeyword("TestCentre")
	// SessionDateKey is the test session date.
	SessionDateKey = temporal.NewSearchAttributeKeyTime("SessionDate")
)

// SearchAttributes lists every custom search attribute with its type, for
// registration on a Temporal namespace (examflow migrate).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		StageKey.GetName():             enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		TestTypeKey.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		TestCentreKey.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SessionDateKey.GetName():       enumspb.INDEXED_VALUE_TYPE_DATETIME,
		ReviewPendingKey.GetName():     enumspb.INDEXED_VALUE_TYPE_BOOL,
		ReviewDueKey.GetName():         enumspb.INDEXED_VALUE_TYPE_DATETIME,
		CheatingEscalatedKey.GetName(): enumspb.INDEXED_VALUE_TYPE_BOOL,
		DeletionDueKey.GetName():       enumspb.INDEXED_VALUE_TYPE_DATETIME,
		AppealKindKey.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		RequestKindKey.GetName():       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		CourseTypeKey.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// Test-day search attributes.
var (
	// ReviewPendingKey is true while a result is held for a case handler.
	ReviewPendingKey = temporal.NewSearchAttributeKeyBool("ReviewPending")
	// ReviewDueKey is the deadline of the oldest open review.
	ReviewDueKey = temporal.NewSearchAttributeKeyTime("ReviewDue")
)
