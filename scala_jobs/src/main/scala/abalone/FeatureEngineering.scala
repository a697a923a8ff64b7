package abalone

import org.apache.spark.ml.{Pipeline, PipelineStage, Transformer}
import org.apache.spark.ml.feature.{OneHotEncoder, StandardScaler, StandardScalerModel, StringIndexerModel, VectorAssembler}
import org.apache.spark.ml.functions.vector_to_array
import org.apache.spark.sql.{Column, DataFrame, SparkSession}
import org.apache.spark.sql.functions._

import Contract._

/** Feature engineering: the contract's hash split, then a Spark ML Pipeline (one-hot sex + StandardScaler)
  * fitted on the train rows only and applied to every row. The same job as
  * processing_scripts/pyspark/feature_engineering.py, row for row.
  */
object FeatureEngineering {
  val Defaults: Map[String, String] = Map(
    "input" -> "/opt/ml/processing/input/data",
    "output" -> "/opt/ml/processing/output/features",
    "transform-output" -> "/opt/ml/processing/output/transform",
    "train-ratio" -> "0.7",
    "validation-ratio" -> "0.15",
    "seed" -> "42",
    "message-file" -> "/opt/ml/output/message"
  )

  def main(argv: Array[String]): Unit = {
    val args = new Args(argv, Defaults)
    val (trainRatio, validationRatio, seed) = (args.double("train-ratio"), args.double("validation-ratio"), args.int("seed"))
    require(trainRatio > 0 && trainRatio <= 1 && validationRatio >= 0 && trainRatio + validationRatio <= 1 + 1e-12,
      s"--train-ratio/--validation-ratio: expected 0 < train <= 1, 0 <= validation, sum <= 1; got $trainRatio, $validationRatio")
    Io.runJob("abalone-feature-engineering", args("message-file")) { spark =>
      Io.checkDestination(args("output"))
      val (features, stats) = engineer(readRaw(spark, args("input")), seed, trainRatio, validationRatio)
      Io.log(s"split counts ${stats("counts")} (seed $seed)")
      Io.writeAtomically(features, args("output"), "parquet")
      Io.log(s"features written to ${args("output")}")
      Io.log(s"transform written to ${Io.writeText(args("transform-output"), "preprocessing.json", Io.json(stats) + "\n")}")
    }
  }

  /** Read CSV (header) or Parquet: `sex` string, the rest doubles; an unparsable value is an error. */
  def readRaw(spark: SparkSession, path: String): DataFrame = {
    if (!new java.io.File(Io.localPath(path)).exists)
      throw new InputDataException(s"--input: $path does not exist (expected a CSV/Parquet file or folder)")
    if (Io.dataFiles(path).isEmpty) throw new InputDataException(s"--input: folder $path holds no data file")
    val parquet = Io.isParquet(path)
    val df = if (parquet) spark.read.parquet(path) else spark.read.option("header", "true").csv(path)
    val missing = RawColumns.filterNot(df.columns.contains)
    if (missing.nonEmpty)
      throw new InputDataException(s"--input $path: missing column(s) ${missing.mkString("[", ", ", "]")}; expected ${RawColumns.mkString("[", ", ", "]")}")
    val values = Numeric :+ "rings"
    if (!parquet) {
      val bad = values.map(c => first(when(col(c).try_cast("double").isNull && trim(col(c)) =!= "", col(c)), ignoreNulls = true).as(c))
      val row = df.agg(bad.head, bad.tail: _*).head()
      values.zipWithIndex.foreach { case (c, i) =>
        if (!row.isNullAt(i)) throw new InputDataException(s"--input $path: column '$c' holds '${row.getString(i)}'; expected a number")
      }
    }
    val cast: String => Column = c => if (parquet) col(c).cast("double") else col(c).try_cast("double")
    df.select((col("sex").cast("string").as("sex") +: values.map(c => cast(c).as(c))): _*)
  }

  /** q(x) = floor(x * 10000 + 0.5) as long: hashing exact decimals, not binary doubles. */
  def quantise(c: Column): Column = floor(c * lit(10000.0) + lit(0.5)).cast("long")

  /** Spark's xxhash64 (seed 42) of longs only: seed, sex code, quantised measurements, rings. */
  def rowHash(seed: Int): Column = {
    val sexCode = coalesce((SexCodes.map { case (k, v) => when(col("sex") === k, lit(v)) } :+ lit(0)): _*)
    val args = Seq(lit(seed.toLong), sexCode.cast("long")) ++ Numeric.map(c => quantise(col(c))) :+ col("rings").cast("long")
    xxhash64(args: _*)
  }

  /** Bucket bounds out of 10,000, rounding half to even (as Python's and numpy's round). */
  def splitBounds(trainRatio: Double, validationRatio: Double): (Long, Long) =
    (math.rint(trainRatio * 10000).toLong, math.rint((trainRatio + validationRatio) * 10000).toLong)

  def assignSplit(df: DataFrame, seed: Int, trainRatio: Double, validationRatio: Double): DataFrame = {
    val (t, v) = splitBounds(trainRatio, validationRatio)
    val bucket = pmod(col("row_hash"), lit(10000L))
    df.withColumn("row_hash", rowHash(seed))
      .withColumn("split", when(bucket < t, "train").when(bucket < v, "validation").otherwise("test"))
  }

  /** Fixed F, I, M (alphabetAsc, as the contract's columns); unknown or missing sex -> all zeros. */
  def oneHotStages: Array[PipelineStage] = Array(
    new StringIndexerModel(Categories.toArray).setInputCol("sex").setOutputCol("_sex_idx").setHandleInvalid("keep"),
    new OneHotEncoder().setInputCols(Array("_sex_idx")).setOutputCols(Array("_sex_vec")).setDropLast(true).setHandleInvalid("keep")
  )

  /** VectorAssembler + StandardScaler(withMean, withStd: sample std; a zero std gives 0.0). */
  def scalerStages(columns: Seq[String], name: String): Array[PipelineStage] = Array(
    new VectorAssembler().setInputCols(columns.toArray).setOutputCol(s"_num_$name").setHandleInvalid("keep"),
    new StandardScaler().setInputCol(s"_num_$name").setOutputCol(s"_scaled_$name").setWithMean(true).setWithStd(true)
  )

  /** The fitted stages and, per numeric column, the expression of its scaled value.
    * Without missing numerics (the usual case): one Pipeline, one StandardScaler over the seven columns.
    * With some: each column's scaler is fitted on the train rows where that column is present (as
    * scikit-learn's StandardScaler ignores NaN), so the three engines fit the same statistics.
    */
  def fitModel(train: DataFrame, fitRows: Map[String, Long], nTrain: Long): (Seq[Transformer], Map[String, Column]) = {
    if (Numeric.forall(c => fitRows(c) == nTrain)) {
      val model = new Pipeline().setStages(oneHotStages ++ scalerStages(Numeric, "all")).fit(train)
      val scaled = vector_to_array(col("_scaled_all"))
      return (model.stages.toSeq, Numeric.zipWithIndex.map { case (c, i) => c -> scaled(i) }.toMap)
    }
    val empty = Numeric.filter(c => fitRows(c) == 0)
    if (empty.nonEmpty)
      throw new InputDataException(s"--input: column(s) ${empty.mkString(", ")} have no value in any train row; cannot fit the scaler")
    val base = new Pipeline().setStages(oneHotStages).fit(train).stages.toSeq
    val perColumn = Numeric.zipWithIndex.flatMap { case (c, i) =>
      new Pipeline().setStages(scalerStages(Seq(c), i.toString)).fit(train.filter(col(c).isNotNull)).stages.toSeq
    }
    (base ++ perColumn, Numeric.zipWithIndex.map { case (c, i) => c -> vector_to_array(col(s"_scaled_$i"))(0) }.toMap)
  }

  def engineer(raw: DataFrame, seed: Int, trainRatio: Double, validationRatio: Double): (DataFrame, Map[String, Any]) = {
    val df = assignSplit(raw, seed, trainRatio, validationRatio).cache()
    val counts = df.groupBy("split").count().collect().map(r => r.getString(0) -> r.getLong(1)).toMap
    if (counts.getOrElse("train", 0L) == 0L)
      throw new InputDataException(s"--input: no train rows (split counts $counts); expected a non-empty input")
    val train = df.filter(col("split") === "train")
    val present = train.agg(count(col(Numeric.head)), Numeric.tail.map(c => count(col(c))): _*).head()
    val fitRows = Numeric.zipWithIndex.map { case (c, i) => c -> present.getLong(i) }.toMap
    val (stages, scaled) = fitModel(train, fitRows, counts("train"))
    val scalers = stages.collect { case s: StandardScalerModel => s }
    val oh = vector_to_array(col("_sex_vec"))
    val cols = Seq(col("rings").cast("double").as("rings")) ++
      OneHot.zipWithIndex.map { case (c, i) => oh(i).as(c) } ++
      Numeric.map(c => when(col(c).isNotNull, scaled(c)).as(c)) ++
      Seq(col("split"), col("row_hash"))
    val features = stages.foldLeft(df)((d, t) => t.transform(d)).select(cols: _*)
    val (t, v) = splitBounds(trainRatio, validationRatio)
    val stats = Map[String, Any](
      "engine" -> "scala",
      "seed" -> seed,
      "hash" -> "spark xxhash64, seed 42, over (seed, sex_code, q(numerics...), rings) as longs",
      "ratios" -> Map("train" -> trainRatio, "validation" -> validationRatio,
        "test" -> BigDecimal(1 - trainRatio - validationRatio).setScale(10, BigDecimal.RoundingMode.HALF_EVEN).toDouble),
      "thresholds" -> Map("train" -> t, "validation" -> v),
      "label" -> "rings",
      "categories" -> Map("sex" -> Categories),
      "numeric_columns" -> Numeric,
      "means" -> Numeric.zip(scalers.flatMap(_.mean.toArray)).toMap,
      "stds" -> Numeric.zip(scalers.flatMap(_.std.toArray)).toMap,
      "std_ddof" -> 1,
      "fit_rows" -> fitRows,
      "counts" -> (Splits.map(s => s -> counts.getOrElse(s, 0L)).toMap + ("total" -> counts.values.sum)),
      "feature_columns" -> Columns
    )
    (features, stats)
  }
}
