"""The lab bench: load protocols, hub tracking from photos, measured in situ gradients, digital twins.

``femnn.lab.measurement`` holds the :class:`Measurement` type and its ``measurement.json`` file, the
contract between ``femnn measure`` (which writes it), ``femnn protocol --forward-measured`` and
``femnn calibrate`` (which read it). numpy only at this level; image work lives in its own modules.
"""

from femnn.lab.measurement import Measurement, StateMeasurement, read_measurement, write_measurement

__all__ = ["Measurement", "StateMeasurement", "read_measurement", "write_measurement"]
