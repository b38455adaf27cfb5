package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/identity"
)

// sealedPerson is what candidates.sealed holds.
type sealedPerson struct {
	GivenName      string `json:"given_name"`
	FamilyName     string `json:"family_name"`
	DateOfBirth    string `json:"date_of_birth"`
	NationalID     string `json:"national_id,omitempty"`
	DUFNumber      string `json:"duf_number,omitempty"`
	PassportNumber string `json:"passport_number,omitempty"`
	// PassportCountry is the passport's issuing country, kept with its
	// number (a passport number identifies nobody without it).
	PassportCountry string `json:"passport_country,omitempty"`
	Email           string `json:"email,omitempty"`
	Phone           string `json:"phone,omitempty"`
	Gender          string `json:"gender,omitempty"`
}

func toSealed(p Person) sealedPerson {
	dob := ""
	if !p.DateOfBirth.IsZero() {
		dob = p.DateOfBirth.Format(time.DateOnly)
	}
	return sealedPerson{GivenName: p.GivenName, FamilyName: p.FamilyName, DateOfBirth: dob, NationalID: p.NationalID,
		DUFNumber: p.DUFNumber, PassportNumber: p.PassportNumber, PassportCountry: p.PassportCountry, Email: p.Email, Phone: p.Phone, Gender: p.Gender}
}

func (sp sealedPerson) person() Person {
	dob, _ := time.Parse(time.DateOnly, sp.DateOfBirth)
	return Person{GivenName: sp.GivenName, FamilyName: sp.FamilyName, DateOfBirth: dob, NationalID: sp.NationalID,
		DUFNumber: sp.DUFNumber, PassportNumber: sp.PassportNumber, PassportCountry: sp.PassportCountry, Email: sp.Email, Phone: sp.Phone, Gender: sp.Gender}
}

// fill sets every empty field of sp from other. A passport's number and
// issuing country go together: the country is taken only with the number.
func (sp *sealedPerson) fill(other sealedPerson) {
	if sp.PassportCountry == "" && (sp.PassportNumber == "" || sp.PassportNumber == other.PassportNumber) {
		sp.PassportCountry = other.PassportCountry
	}
	for _, f := range []struct{ dst, src *string }{
		{&sp.GivenName, &other.GivenName}, {&sp.FamilyName, &other.FamilyName}, {&sp.DateOfBirth, &other.DateOfBirth},
		{&sp.NationalID, &other.NationalID}, {&sp.DUFNumber, &other.DUFNumber}, {&sp.PassportNumber, &other.PassportNumber},
		{&sp.Email, &other.Email}, {&sp.Phone, &other.Phone}, {&sp.Gender, &other.Gender},
	} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
}

// Sensitive is the legacy registrations' sensitive data (T07).
type Sensitive struct {
	CountryOfOrigin string `json:"country_of_origin,omitempty"`
	MotherTongue    string `json:"mother_tongue,omitempty"`
	// OriginalDate is the earliest legacy registration date it came with.
	OriginalDate time.Time `json:"-"`
}

// PersonalData is what examflow holds about a candidate, decrypted.
type PersonalData struct {
	Person    Person
	Address   *Address
	Sensitive *Sensitive
}

// readPerson opens a candidate's sealed identity and contact fields.
func (s *Store) readPerson(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, dek []byte) (sealedPerson, error) {
	var sealed []byte
	if err := tx.QueryRow(ctx, `SELECT sealed FROM candidates WHERE id = $1`, candidateID).Scan(&sealed); err != nil {
		return sealedPerson{}, fmt.Errorf("read candidate: %w", err)
	}
	var sp sealedPerson
	if sealed == nil {
		return sp, nil
	}
	err := openJSON(dek, candidateID, "person", sealed, &sp)
	return sp, err
}

func (s *Store) writePerson(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, dek []byte, sp sealedPerson) error {
	sealed, err := sealJSON(dek, candidateID, "person", sp)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE candidates SET sealed = $2, updated_at = now() WHERE id = $1`, candidateID, sealed); err != nil {
		return fmt.Errorf("write candidate: %w", err)
	}
	return nil
}

// readAddress opens a candidate's address, if any, with its recorded time.
func readAddress(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, dek []byte) (*Address, time.Time, error) {
	var sealed []byte
	var recorded time.Time
	err := tx.QueryRow(ctx, `SELECT sealed, recorded_at FROM candidate_addresses WHERE candidate_id = $1`, candidateID).Scan(&sealed, &recorded)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read address: %w", err)
	}
	var a Address
	if err := openJSON(dek, candidateID, "address", sealed, &a); err != nil {
		return nil, time.Time{}, err
	}
	return &a, recorded, nil
}

// writeAddress stores a candidate's address. With keep, an address the
// candidate already has stays (older data, such as a legacy import).
// recordedAt zero means now.
func writeAddress(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, dek []byte, a Address, keep bool, recordedAt time.Time) error {
	sealed, err := sealJSON(dek, candidateID, "address", a)
	if err != nil {
		return err
	}
	var rec *time.Time
	if !recordedAt.IsZero() {
		rec = &recordedAt
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO candidate_addresses (candidate_id, sealed, recorded_at) VALUES ($1, $2, COALESCE($4, now()))
		ON CONFLICT (candidate_id) DO UPDATE SET sealed = $2, recorded_at = COALESCE($4, now())
		WHERE NOT $3`, candidateID, sealed, keep, rec); err != nil {
		return fmt.Errorf("write address: %w", err)
	}
	return nil
}

// readSensitive opens a candidate's sensitive data, if any.
func readSensitive(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, dek []byte) (*Sensitive, error) {
	var sealed []byte
	var date time.Time
	err := tx.QueryRow(ctx, `SELECT sealed, original_registration_date FROM candidate_sensitive WHERE candidate_id = $1`, candidateID).Scan(&sealed, &date)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sensitive data: %w", err)
	}
	var sd Sensitive
	if err := openJSON(dek, candidateID, "sensitive", sealed, &sd); err != nil {
		return nil, err
	}
	sd.OriginalDate = date
	return &sd, nil
}

// writeSensitive merges sensitive data into what the candidate has: a value
// already recorded is kept, and the earliest legacy date is the one the
// data was first recorded under.
func writeSensitive(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, dek []byte, in Sensitive) error {
	cur, err := readSensitive(ctx, tx, candidateID, dek)
	if err != nil {
		return err
	}
	merged := in
	if cur != nil {
		if cur.CountryOfOrigin != "" {
			merged.CountryOfOrigin = cur.CountryOfOrigin
		}
		if cur.MotherTongue != "" {
			merged.MotherTongue = cur.MotherTongue
		}
		if cur.OriginalDate.Before(merged.OriginalDate) {
			merged.OriginalDate = cur.OriginalDate
		}
	}
	sealed, err := sealJSON(dek, candidateID, "sensitive", merged)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO candidate_sensitive (candidate_id, sealed, original_registration_date) VALUES ($1, $2, $3)
		ON CONFLICT (candidate_id) DO UPDATE SET sealed = $2, original_registration_date = $3`,
		candidateID, sealed, merged.OriginalDate); err != nil {
		return fmt.Errorf("record sensitive data: %w", err)
	}
	return nil
}

// PersonalDataOf decrypts what examflow holds about a candidate. After the
// final deletion the key is gone and so is the data: ErrNotFound.
func (s *Store) PersonalDataOf(ctx context.Context, candidateID uuid.UUID) (PersonalData, error) {
	var out PersonalData
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		dek, err := s.subjectKey(ctx, tx, candidateID, false)
		if errors.Is(err, ErrKeyDestroyed) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		sp, err := s.readPerson(ctx, tx, candidateID, dek)
		if err != nil {
			return err
		}
		out.Person = sp.person()
		if out.Address, _, err = readAddress(ctx, tx, candidateID, dek); err != nil {
			return err
		}
		out.Sensitive, err = readSensitive(ctx, tx, candidateID, dek)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return out, err
	}
	return out, classify(err)
}

// Rectification is a candidate's corrected data (T18, C11): empty fields
// stay as they are. The values are validated by the caller as at
// registration.
type Rectification struct {
	GivenName, FamilyName, Email, Phone, Gender string
	// DateOfBirth, if not zero, must agree with the birth date the
	// candidate's national identity number encodes (ErrBirthDateContradicts).
	DateOfBirth time.Time
	// Address holds the corrected parts of the address: street,
	// postal_code, city, country. Only an address examflow holds is
	// corrected (ErrNoAddress); it keeps the time it was recorded, so the
	// correction does not extend its retention.
	Address map[string]string
	// WrittenForm corrects the written form (bokmal, nynorsk) on every
	// registration of the candidate.
	WrittenForm string
}

// Errors of Rectify: the correction is refused and nothing changes.
var (
	// ErrBirthDateContradicts: the corrected date of birth contradicts the
	// birth date the national identity number on record encodes.
	ErrBirthDateContradicts = errors.New("the corrected date of birth contradicts the birth date the national identity number on record encodes")
	// ErrNoAddress: an address correction, but no address is held.
	ErrNoAddress = errors.New("no address is held to correct")
	// ErrNoRegistration: a written form correction, but the candidate has
	// no registration.
	ErrNoRegistration = errors.New("no registration holds a written form to correct")
)

// Rectify applies a rectification in one transaction: the person sealed
// again, the address corrected in place, the written form on the
// registrations.
func (s *Store) Rectify(ctx context.Context, candidateID uuid.UUID, r Rectification) error {
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		dek, err := s.subjectKey(ctx, tx, candidateID, false)
		if err != nil {
			return err
		}
		sp, err := s.readPerson(ctx, tx, candidateID, dek)
		if err != nil {
			return err
		}
		p := sp.person()
		for _, f := range []struct{ dst, src *string }{
			{&p.GivenName, &r.GivenName}, {&p.FamilyName, &r.FamilyName}, {&p.Email, &r.Email}, {&p.Phone, &r.Phone}, {&p.Gender, &r.Gender},
		} {
			if *f.src != "" {
				*f.dst = *f.src
			}
		}
		if !r.DateOfBirth.IsZero() {
			if born, ok := identity.BirthDate(sp.NationalID); ok && !born.Equal(r.DateOfBirth) {
				return ErrBirthDateContradicts
			}
			p.DateOfBirth = r.DateOfBirth
		}
		next := toSealed(p)
		next.NationalID, next.DUFNumber, next.PassportNumber, next.PassportCountry = sp.NationalID, sp.DUFNumber, sp.PassportNumber, sp.PassportCountry
		if err := s.writePerson(ctx, tx, candidateID, dek, next); err != nil {
			return err
		}
		if len(r.Address) > 0 {
			a, recorded, err := readAddress(ctx, tx, candidateID, dek)
			if err != nil {
				return err
			}
			if a == nil {
				return ErrNoAddress
			}
			for part, dst := range map[string]*string{"street": &a.Street, "postal_code": &a.PostalCode, "city": &a.City, "country": &a.Country} {
				if v, ok := r.Address[part]; ok {
					*dst = v
				}
			}
			if err := writeAddress(ctx, tx, candidateID, dek, *a, false, recorded); err != nil {
				return err
			}
		}
		if r.WrittenForm != "" {
			tag, err := tx.Exec(ctx, `UPDATE registrations SET written_form = $2 WHERE candidate_id = $1`, candidateID, r.WrittenForm)
			if err != nil {
				return fmt.Errorf("rectify written form: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return ErrNoRegistration
			}
		}
		return nil
	}))
}

// RecordSensitive records legacy sensitive data for a candidate.
func (s *Store) RecordSensitive(ctx context.Context, candidateID uuid.UUID, sd Sensitive) error {
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		dek, err := s.subjectKey(ctx, tx, candidateID, true)
		if err != nil {
			return err
		}
		return writeSensitive(ctx, tx, candidateID, dek, sd)
	}))
}
